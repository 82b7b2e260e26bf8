// The acceptance path of one arriving message: pure, never throws.
import type { DecodedPacket } from './codec.js';
import { readResponse } from './lazy.js';
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
 * byte, then the structural walk of every section and a decode of the answer section only (the
 * others are decoded when read; the walk already proved they decode). A message larger than
 * `maxSize` is skipped before any of that (a responder must not exceed the size we advertised,
 * RFC 6891 §6.2.5). The verdict is the one a full decode ({@link decodeMessage}) would give.
 */
export function accept(bytes: Buffer, query: Uint8Array, questionEnd: number, maxSize: number): Verdict {
  if (bytes.length > maxSize) return { kind: 'skip', reason: 'oversize' };
  const reason = mismatch(bytes, query, questionEnd);
  if (reason !== undefined) return { kind: 'skip', reason };
  try {
    return { kind: 'answer', message: readResponse(bytes) };
  } catch (err) {
    return {
      kind: 'malformed',
      reason: `malformed message: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}
