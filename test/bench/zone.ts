// The zone every `npm run bench` client asks: bench.test, served by knotd on loopback.

/** `names` names with 2 MX each, plus A, AAAA and TXT. */
export function benchZone(names: number): string {
  const lines = [
    '$ORIGIN bench.test.',
    '$TTL 3600',
    '@ SOA ns hostmaster 1 3600 600 86400 60',
    '@ NS ns',
    'ns A 127.0.0.1',
  ];
  for (let i = 0; i < names; i++) {
    lines.push(`d${i} MX 10 mx1.d${i}`, `d${i} MX 20 mx2.d${i}`, `d${i} A 192.0.2.${i % 250}`);
    lines.push(`d${i} AAAA 2001:db8::${(i % 65535).toString(16)}`, `d${i} TXT "v=spf1 -all"`);
  }
  return `${lines.join('\n')}\n`;
}
