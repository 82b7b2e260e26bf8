// TTLs on the wire, for the cache: how long a response may be kept (RFC 1035 §3.2.1, RFC 2181 §8,
// RFC 2308), and a copy of it whose TTLs count down the time it has been kept.
import { skipName, walk } from './walk.js';

const TYPE_CNAME = 5;
const TYPE_SOA = 6;
const TYPE_OPT = 41;
const TYPE_ANY = 255;
const RCODE_NXDOMAIN = 3;

/** How long a response may be kept, read from its records. */
export interface Keepable {
  /** Seconds, as the records say (before any clamping). */
  ttl: number;
  /** NXDOMAIN, or NODATA (RFC 2308 §2.2: no record of the type asked): kept for the SOA's negative TTL. */
  negative: boolean;
  /** Where each record's TTL field is (OPT's is no TTL): {@link aged} rewrites them. */
  ttlAt: number[];
}

/** RFC 2181 §8: a TTL with the top bit set is read as 0. */
function ttlAt(bytes: Uint8Array, at: number): number {
  const ttl = ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
  return ttl > 0x7fffffff ? 0 : ttl;
}

/**
 * How long the response to a query of `qtype` may be kept, or undefined when it may not be: only
 * NOERROR and NXDOMAIN, never a truncated one. A positive answer (records of the type asked, at
 * the end of any CNAME chain) lives as long as its shortest TTL, the chain's included. NXDOMAIN and
 * NODATA live min(SOA TTL, SOA MINIMUM) of the SOA in the authority section (RFC 2308 §5), and no
 * longer than a CNAME that led there; without an SOA they are not kept (RFC 2308 §5).
 *
 * @example
 * ```ts
 * keepable(answerBytes, 15); // { ttl: 300, negative: false, ttlAt: Uint16Array [...] }
 * ```
 */
export function keepable(bytes: Uint8Array, qtype: number): Keepable | undefined {
  if ((bytes[2]! & 0x02) !== 0) return undefined; // TC
  const rcode = bytes[3]! & 0x0f;
  if (rcode !== 0 && rcode !== RCODE_NXDOMAIN) return undefined;
  const layout = walk(bytes);
  if (layout.extendedRcode !== 0) return undefined;
  const an = (bytes[6]! << 8) | bytes[7]!;
  const ns = (bytes[8]! << 8) | bytes[9]!;
  const starts = layout.records;
  const at: number[] = [];
  let answerTtl = Number.POSITIVE_INFINITY;
  let chainTtl = Number.POSITIVE_INFINITY;
  let found = false;
  let soaTtl = -1;
  for (let i = 0; i < starts.length - 1; i++) {
    const pos = skipName(bytes, starts[i]!);
    const type = (bytes[pos]! << 8) | bytes[pos + 1]!;
    if (type === TYPE_OPT) continue;
    at.push(pos + 4);
    const ttl = ttlAt(bytes, pos + 4);
    if (i < an) {
      answerTtl = Math.min(answerTtl, ttl);
      if (type === TYPE_CNAME) chainTtl = Math.min(chainTtl, ttl);
      if (type === qtype || qtype === TYPE_ANY) found = true;
    } else if (i < an + ns && type === TYPE_SOA && soaTtl < 0) {
      // RFC 2308 §5: the negative TTL is the SOA's own TTL, capped by its MINIMUM field (the
      // last 4 bytes of its rdata).
      const end = starts[i + 1]!;
      soaTtl = Math.min(ttl, ttlAt(bytes, end - 4));
    }
  }
  const negative = rcode === RCODE_NXDOMAIN || !found;
  let ttl: number;
  if (!negative) ttl = answerTtl;
  else if (soaTtl < 0) return undefined;
  else ttl = Math.min(soaTtl, chainTtl);
  return { ttl, negative, ttlAt: at };
}

/**
 * The message kept as `latin1` text (one byte per character: a string costs a few bytes of header
 * where a Buffer costs a hundred), as bytes again whose TTLs are each `age` seconds less (never
 * below 0) and at most `cap`: a kept answer as it would read now.
 *
 * @example
 * ```ts
 * const now = aged(bytes.toString('latin1'), kept.ttlAt, 30, 270); // a TTL of 300 reads 270
 * ```
 */
export function aged(text: string, at: readonly number[], age: number, cap: number): Buffer {
  const copy = Buffer.from(text, 'latin1');
  for (let i = 0; i < at.length; i++) {
    const p = at[i]!;
    copy.writeUInt32BE(Math.max(0, Math.min(ttlAt(copy, p) - age, cap)), p);
  }
  return copy;
}
