// The acceptance path of one arriving message: pure, never throws.
import type { DecodedPacket } from './codec.js';
import { type Response, readResponse } from './lazy.js';
import { type Mismatch, mismatch } from './validate.js';

/** What to do with one arriving message. */
export type Verdict =
  | { kind: 'answer'; message: DecodedPacket }
  /** Not an answer to this query (or larger than allowed): skip it and keep waiting. */
  | { kind: 'skip'; reason: Mismatch | 'oversize' }
  /** It claims to answer this query but is not a well-formed message: EBADRESP, keep waiting. */
  | { kind: 'malformed'; reason: string };

/** Why a message that claims to answer the query is not a well-formed message. */
export class Malformed {
  readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
}

/**
 * {@link accept} without the verdict object, for the exchange's hot path: the response, a skip
 * reason, or a {@link Malformed}.
 */
export function judge(
  bytes: Buffer,
  query: Uint8Array,
  questionEnd: number,
  maxSize: number,
): Response | Mismatch | 'oversize' | Malformed {
  if (bytes.length > maxSize) return 'oversize';
  const reason = mismatch(bytes, query, questionEnd);
  if (reason !== undefined) return reason;
  try {
    return readResponse(bytes);
  } catch (err) {
    // A truncated message may be cut anywhere after its question (a forwarder or home router that
    // cuts at the size limit): with TC set, what it says is "ask over TCP", so keep the header
    // and the question that matched, and let the caller do that.
    if ((bytes[2]! & 0x02) !== 0 && bytes[5] === 1)
      return readResponse(headerAndQuestion(bytes, questionEnd));
    return new Malformed(`malformed message: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A copy of the header and question of `bytes`, with no records: a well-formed message. */
function headerAndQuestion(bytes: Buffer, questionEnd: number): Buffer {
  const copy = Buffer.from(bytes.subarray(0, questionEnd));
  copy.fill(0, 6, 12);
  return copy;
}

/**
 * RFC 5452 §9.1 in three steps, cheapest first: the 12-byte header, then the question byte by
 * byte, then the structural walk of every section and a decode of the answer section only (the
 * others are decoded when read; the walk already proved they decode). A message larger than
 * `maxSize` is skipped before any of that (a responder must not exceed the size we advertised,
 * RFC 6891 §6.2.5). The verdict is the one a full decode (`decodeMessage`) would give.
 */
export function accept(bytes: Buffer, query: Uint8Array, questionEnd: number, maxSize: number): Verdict {
  const v = judge(bytes, query, questionEnd, maxSize);
  if (typeof v === 'string') return { kind: 'skip', reason: v };
  if (v instanceof Malformed) return { kind: 'malformed', reason: v.reason };
  return { kind: 'answer', message: v };
}
