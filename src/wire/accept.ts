// The acceptance path of one arriving message: pure, never throws.
import { type DecodedPacket, decodeMessage } from './codec.js';
import { type Mismatch, mismatch } from './validate.js';

/** What to do with one arriving message. */
export type Verdict =
  | { kind: 'answer'; message: DecodedPacket }
  /** Not an answer to this query (or larger than allowed): skip it and keep waiting. */
  | { kind: 'skip'; reason: Mismatch | 'oversize' }
  /** It claims to answer this query but is not a well-formed message: EBADRESP, keep waiting. */
  | { kind: 'malformed'; reason: string };

/**
 * RFC 5452 §9.1 in three steps, cheapest first: the 12-byte header, then the question byte by
 * byte, then the full structural walk and decode. A message larger than `maxSize` is skipped
 * before any of that (a responder must not exceed the size we advertised, RFC 6891 §6.2.5).
 */
export function accept(bytes: Buffer, query: Uint8Array, questionEnd: number, maxSize: number): Verdict {
  if (bytes.length > maxSize) return { kind: 'skip', reason: 'oversize' };
  const reason = mismatch(bytes, query, questionEnd);
  if (reason !== undefined) return { kind: 'skip', reason };
  try {
    return { kind: 'answer', message: decodeMessage(bytes) };
  } catch (err) {
    return { kind: 'malformed', reason: err instanceof Error ? err.message : String(err) };
  }
}
