// Scripted faults: what the test server does to each query, one step per query, in one line.
// Each step sees the zone's real answer, so a fault is the real answer changed in one way only.
import type { Packet } from '../wire/types.js';
import { type MalformedKind, malformed, mismatched, type RcodeName, rcodeReply } from './reply.js';

/**
 * Where a query came from, as given to a test server's `handler`.
 *
 * @example
 * ```ts
 * const handler = (query: Packet, ctx: QueryContext) => (ctx.transport === 'udp' ? null : undefined); // TCP only
 * ```
 */
export interface QueryContext {
  transport: 'udp' | 'tcp';
  rinfo: { address: string; port: number };
  /** TCP only: closes the connection at once, without an answer (return `null` with it). */
  hangUp?: () => void;
  /** TCP only: which connection the query came on, numbered in the order accepted (0-based). */
  connection?: number;
}

/**
 * Which socket a datagram leaves from: the server's own, a second UDP socket on the same address
 * (another port), or one on 127.0.0.2 (another address; same port number if free). Over TCP every
 * datagram goes down the one connection and `from` is ignored.
 *
 * @example
 * ```ts
 * const from: From = 'otherPort';
 * ```
 */
export type From = 'server' | 'otherPort' | 'otherAddress';

/**
 * One datagram a step sends: these bytes, `afterMs` after the query arrived, from `from`.
 *
 * @example
 * ```ts
 * const action: Action = { bytes: answer, afterMs: 10, from: 'server' };
 * ```
 */
export interface Action {
  bytes: Buffer;
  /** Default 0; the server's `delayMs` is added on top. */
  afterMs?: number;
  /** Default `'server'`. */
  from?: From;
}

/**
 * What a step knows of its query besides the query itself: where it came from, and its place
 * (0-based) among the queries the script has seen.
 *
 * @example
 * ```ts
 * const step: Step = (_q, answer, ctx) => (ctx.index % 2 ? [] : [{ bytes: answer }]);
 * ```
 */
export interface StepContext extends QueryContext {
  index: number;
}

/**
 * One step: given the query, the zone's answer for it (as bytes) and its context, the datagrams
 * to send. An empty list is silence.
 *
 * @example
 * ```ts
 * const twice: Step = (_q, answer) => [{ bytes: answer }, { bytes: answer, afterMs: 5 }];
 * ```
 */
export type Step = (query: Packet, answer: Buffer, ctx: StepContext) => Action[];

/**
 * A step for every query, or a list consumed one step per query whose last step repeats. Lists
 * may nest one level (`[badIdThenGood(), dropFirst(2)]`), so scenarios that are lists compose.
 *
 * @example
 * ```ts
 * const script: Script = [silent(), badIdThenGood(), answer()];
 * ```
 */
export type Script = Step | ReadonlyArray<Step | readonly Step[]>;

/**
 * Bytes to send instead of the answer: fixed, or made from the real answer (and the query).
 *
 * @example
 * ```ts
 * const make: Make = (answer) => answer.subarray(0, 11);
 * ```
 */
export type Make = Buffer | ((answer: Buffer, query: Packet) => Buffer);

const made = (make: Make, answer: Buffer, query: Packet) =>
  Buffer.isBuffer(make) ? make : make(answer, query);

/**
 * Turns a script into the function the server calls once per query; throws on an empty list.
 *
 * @example
 * ```ts
 * const next = runScript([silent(), answer()]);
 * next(query, answerBytes, ctx); // [] the first time, then the answer every time
 * ```
 */
export function runScript(script: Script): (query: Packet, answer: Buffer, ctx: QueryContext) => Action[] {
  const steps: Step[] = typeof script === 'function' ? [script] : script.flat();
  if (steps.length === 0) throw new RangeError('a script needs at least one step');
  let index = 0;
  return (query, answer, ctx) => {
    const step = steps[Math.min(index, steps.length - 1)]!;
    return step(query, answer, { ...ctx, index: index++ });
  };
}

/**
 * The zone's answer, at once: what a server without faults does.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: [silent(), answer()] });
 * ```
 */
export function answer(): Step {
  return (_q, bytes) => [{ bytes }];
}

/**
 * No reply at all: the client times out.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: silent() });
 * ```
 */
export function silent(): Step {
  return () => [];
}

/**
 * The zone's answer after `ms`.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: delay(150) });
 * ```
 */
export function delay(ms: number): Step {
  return (_q, bytes) => [{ bytes, afterMs: ms }];
}

/**
 * Silence for the first `n` queries, answers after: the retry path in one line.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: dropFirst(2) }); // a client with tries >= 3 gets through
 * ```
 */
export function dropFirst(n: number): Step[] {
  return [...Array.from({ length: n }, silent), answer()];
}

/**
 * The answer `n` times, `gapMs` apart: a client must settle on the first and ignore the rest.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: duplicate(3) });
 * ```
 */
export function duplicate(n: number, gapMs = 0): Step {
  return (_q, bytes) => Array.from({ length: n }, (_, i) => ({ bytes, afterMs: i * gapMs }));
}

/**
 * These bytes and nothing else (no real answer follows).
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: raw(malformed.pointerLoop) }); // the client ends with EBADRESP
 * ```
 */
export function raw(bytes: Make): Step {
  return (query, answer) => [{ bytes: made(bytes, answer, query) }];
}

/**
 * A reply with this rcode and no records instead of the answer (RFC 1035 §4.1.1).
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: [rcode('SERVFAIL'), answer()] });
 * ```
 */
export function rcode(name: RcodeName): Step {
  return (query) => [{ bytes: rcodeReply(query, name) }];
}

/**
 * The answer after a delay drawn uniformly from [minMs, maxMs]; pass a {@link seeded} rng to
 * get the same delays on every run.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: jitter(5, 50, seeded(1)) });
 * ```
 */
export function jitter(minMs: number, maxMs: number, rng: () => number = Math.random): Step {
  return (_q, bytes) => [{ bytes, afterMs: minMs + rng() * (maxMs - minMs) }];
}

/**
 * Silence with this probability, else the answer: a lossy path. Seed it for reproducible tests.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: drop(0.3, seeded(7)) });
 * ```
 */
export function drop(probability: number, rng: () => number = Math.random): Step {
  return (_q, bytes) => (rng() < probability ? [] : [{ bytes }]);
}

/**
 * A small seedable PRNG (xorshift32) returning numbers in [0, 1), for {@link drop} and
 * {@link jitter}.
 *
 * @example
 * ```ts
 * const rng = seeded(42); // the same sequence on every run
 * ```
 */
export function seeded(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

/**
 * How a `...ThenGood` step sends its first datagram.
 *
 * @example
 * ```ts
 * const options: ThenGoodOptions = { leadMs: 10, forged: forgedAnswer([evilMx]) };
 * ```
 */
export interface ThenGoodOptions {
  /** How long before the real answer the bad datagram goes out. Default 10 ms. */
  leadMs?: number;
  /** What the forger claims, before the mismatch is applied. Default: the real answer itself. */
  forged?: Make;
}

/**
 * The building block of every `...ThenGood` scenario: `bad` (made from the real answer) now,
 * from `from`, then the real answer from the server `leadMs` later.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: beforeGood((answer) => answer.subarray(0, 11)) });
 * ```
 */
export function beforeGood(bad: Make, options: { leadMs?: number; from?: From } = {}): Step {
  const { leadMs = 10, from = 'server' } = options;
  return (query, answer) => [
    { bytes: made(bad, answer, query), from },
    { bytes: answer, afterMs: leadMs },
  ];
}

// A forgery (the real answer unless told otherwise) with one RFC 5452 §9.1 check broken.
function forgery(change: (m: Buffer) => Buffer, options: ThenGoodOptions): Step {
  const { forged, leadMs } = options;
  return beforeGood((answer, query) => change(forged ? made(forged, answer, query) : answer), { leadMs });
}

/**
 * A reply under the wrong ID, then the real one.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: badIdThenGood({ forged: forgedAnswer([evilMx]) }) });
 * ```
 */
export function badIdThenGood(options: ThenGoodOptions = {}): Step {
  return forgery(mismatched.id, options);
}

/**
 * A reply for another name (one letter changed, not just its case), then the real one.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: wrongQuestionThenGood() });
 * ```
 */
export function wrongQuestionThenGood(options: ThenGoodOptions = {}): Step {
  return forgery(mismatched.question, options);
}

/**
 * A reply for another QTYPE, then the real one.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: wrongTypeThenGood() });
 * ```
 */
export function wrongTypeThenGood(options: ThenGoodOptions = {}): Step {
  return forgery(mismatched.type, options);
}

/**
 * A reply for QCLASS CH, then the real one.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: wrongClassThenGood() });
 * ```
 */
export function wrongClassThenGood(options: ThenGoodOptions = {}): Step {
  return forgery(mismatched.class, options);
}

/**
 * The reply with QR cleared (so it reads as a query), then the real one.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: queryBitThenGood() });
 * ```
 */
export function queryBitThenGood(options: ThenGoodOptions = {}): Step {
  return forgery(mismatched.queryBit, options);
}

/**
 * A reply that is right in every byte but comes from another port of the server's address, then
 * the real one. A client with a connect()ed socket never sees the first (the kernel drops it).
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: fromOtherPortThenGood(10, { forged: forgedAnswer([evilMx]) }) });
 * ```
 */
export function fromOtherPortThenGood(leadMs = 10, options: Pick<ThenGoodOptions, 'forged'> = {}): Step {
  return beforeGood(options.forged ?? ((answer) => answer), { leadMs, from: 'otherPort' });
}

/**
 * Like {@link fromOtherPortThenGood}, from 127.0.0.2 (IPv4 servers only: IPv6 has one loopback).
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: fromOtherAddressThenGood(10) });
 * ```
 */
export function fromOtherAddressThenGood(leadMs = 10, options: Pick<ThenGoodOptions, 'forged'> = {}): Step {
  return beforeGood(options.forged ?? ((answer) => answer), { leadMs, from: 'otherAddress' });
}

/**
 * Garbage, then the real answer. Default: `malformed.garbage` (noise under another ID).
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: garbageThenGood(Buffer.from('hello')) });
 * ```
 */
export function garbageThenGood(bytes: Make = malformed.garbage, leadMs?: number): Step {
  return beforeGood(bytes, { leadMs });
}

/**
 * One of the {@link malformed} kinds built from the real answer, then the real answer.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: malformedThenGood('pointerChain129') });
 * ```
 */
export function malformedThenGood(kind: MalformedKind, leadMs?: number): Step {
  return beforeGood(malformed[kind], { leadMs });
}

/**
 * A zero-length datagram, then the real answer.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: emptyThenGood() });
 * ```
 */
export const emptyThenGood = (leadMs?: number): Step => malformedThenGood('empty', leadMs);

/**
 * The answer with its last record's rdata cut short, then the real answer.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: truncatedRecordThenGood() });
 * ```
 */
export const truncatedRecordThenGood = (leadMs?: number): Step =>
  malformedThenGood('truncatedRecord', leadMs);

/**
 * The answer with more rdata than its record type holds, then the real answer.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: overlongRdataThenGood() });
 * ```
 */
export const overlongRdataThenGood = (leadMs?: number): Step => malformedThenGood('overlongRdata', leadMs);

/**
 * The answer with one byte after its last record, then the real answer.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: trailingJunkThenGood() });
 * ```
 */
export const trailingJunkThenGood = (leadMs?: number): Step => malformedThenGood('trailingJunk', leadMs);

/**
 * The answer plus a record whose owner is a pointer at itself, then the real answer.
 *
 * @example
 * ```ts
 * startTestServer({ zone, script: pointerLoopThenGood() });
 * ```
 */
export const pointerLoopThenGood = (leadMs?: number): Step => malformedThenGood('pointerLoop', leadMs);
