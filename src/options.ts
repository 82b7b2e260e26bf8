// Defaults and validation of ResolverOptions, once, at the edge, with messages that name the value.

/**
 * Sockets in flight per resolver unless told otherwise: far below what a home router's
 * dnsmasq forwards at once (`dns-forward-max`, 150 by default) and its NAT table holds.
 */
export const DEFAULT_CONCURRENCY = 16;

/** Node's default number of tries per server. */
export const DEFAULT_TRIES = 4;
/** First-try timeout in ms (c-ares's default); it doubles every round, as in c-ares. */
export const DEFAULT_TIMEOUT = 2000;
/**
 * Exchanges a UDP socket carries before it is replaced by one on a fresh port. Each new
 * port is a NAT entry in a home router for 30 s or more, so fewer is kinder to the router;
 * each reuse lets an off-path attacker aim at a known port longer, so more is weaker
 * against spoofing (RFC 5452 §9.2). 100 keeps a bulk job at about 10 ports per 1,000 queries
 * while every query still has a 16-bit random ID and a strict question check.
 */
export const DEFAULT_SOCKET_REUSE = 100;

export function checkInteger(
  name: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw new RangeError(`Expected \`${name}\` to be an integer ${range}, got ${shown}`);
  }
  return value;
}

export function checkSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (value instanceof AbortSignal) return value;
  throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${typeof value}`);
}
