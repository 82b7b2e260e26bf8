// A zone of many distinct names for bulk tests through routers: distinct, so a router cannot merge
// identical queries in flight into one forward.

export const BULK_ORIGIN = 'bulk.test';

/** The i-th name of the bulk zone. */
export const bulkName = (i: number): string => `shop${i}.${BULK_ORIGIN}`;

/** `count` names, each with the MX records `mx1.NAME` (10) and, with `two`, `mx2.NAME` (20). */
export function bulkZone(count: number, two = false): string {
  const lines = [
    `$ORIGIN ${BULK_ORIGIN}.`,
    '$TTL 300',
    '@ SOA ns1 hostmaster 1 900 900 1800 60',
    '@ NS ns1',
    'ns1 A 192.0.2.53',
  ];
  for (let i = 0; i < count; i++) {
    const name = bulkName(i);
    lines.push(`${name}. MX 10 mx1.${name}.`);
    if (two) lines.push(`${name}. MX 20 mx2.${name}.`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `lookups` indexes into `names` distinct names, each asked as often (in turn), in a shuffled order
 * that is the same every run: most asks of a name find it in a router's cache.
 */
export function shuffledAsks(lookups: number, names: number): number[] {
  const order = Array.from({ length: lookups }, (_, i) => i % names);
  let seed = 7;
  for (let i = order.length - 1; i > 0; i--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = Math.floor((seed / 2 ** 31) * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}
