// One attempt: send one query on one socket and wait for the datagram that answers it.
import { codes, type DnsErrorCode } from './errors.js';
import { schedule, type Timed, unschedule } from './timers.js';
import type { Channel, ChannelListener } from './transport/udp.js';
import { judge, Malformed } from './wire/accept.js';
import type { DecodedPacket } from './wire/codec.js';
import type { Response } from './wire/lazy.js';

/** What one attempt came to. A failure carries the node code the try failed with. */
export type Attempt =
  | { ok: true; message: DecodedPacket }
  | { ok: false; code: DnsErrorCode; cause?: unknown; anomaly: boolean };

/** What a resolver counts about its exchanges (see `Resolver#stats`). */
export interface ExchangeCounters {
  /** Queries sent (UDP datagrams and TCP messages). */
  sent: number;
  /** Answers accepted. */
  answers: number;
  /** Messages that did not answer the query (wrong ID, question, QR, or too large): skipped. */
  skipped: number;
  /** Messages that matched the query but were not well-formed: skipped like silence. */
  malformed: number;
  /** Tries that ended without an answer in time. */
  timeouts: number;
}

/**
 * A cancellable wait: the dispatcher sets `cancel` to end the wait at once. Exchanges
 * install their own handler while they wait and remove it when they settle.
 */
export interface Waiter {
  interrupt: ((reason: unknown) => void) | null;
}

const NO_QUERY = new Uint8Array(0);

/**
 * One exchange: sends a query on a channel and waits for the first message that answers it
 * (RFC 5452 §9.1: ID, QR, opcode and question match; for UDP the kernel already dropped other
 * senders since the socket is connected) and decodes cleanly. Anything else is skipped and the
 * wait goes on until the timeout (a malformed reply is no answer). The object is its own
 * channel listener and timer entry, so a wait allocates nothing; subclasses say what happens
 * when it ends, in {@link exchanged}.
 */
export abstract class Exchange implements ChannelListener, Timed {
  due = 0;
  prev: Timed | null = null;
  next: Timed | null = null;
  scheduled = false;
  /** The accepted answer, when the exchange ended with one. */
  answer: Response | null = null;
  /** Why it ended without an answer. */
  code: DnsErrorCode = codes.TIMEOUT;
  cause: unknown;
  #ch: Channel | null = null;
  #query: Uint8Array = NO_QUERY;
  #questionEnd = 0;
  #maxSize = 0;
  #counters: ExchangeCounters | null = null;
  #skipped = 0;
  #bad: unknown;

  /** Sends `query` (its question ends at `questionEnd`) on `ch` and waits up to `timeoutMs`. */
  protected start(
    ch: Channel,
    query: Uint8Array,
    questionEnd: number,
    timeoutMs: number,
    maxSize: number,
    counters: ExchangeCounters,
  ): void {
    this.answer = null;
    this.cause = undefined;
    this.#ch = ch;
    this.#query = query;
    this.#questionEnd = questionEnd;
    this.#maxSize = maxSize;
    this.#counters = counters;
    this.#skipped = 0;
    this.#bad = undefined;
    ch.attach(this);
    schedule(this, timeoutMs);
    ch.uses++;
    counters.sent++;
    ch.send(query);
  }

  /** Stops waiting at once (the query was interrupted); {@link exchanged} is not called. */
  protected abandon(): void {
    unschedule(this);
    this.#ch?.detach();
    this.#ch = null;
  }

  /** The exchange ended: with `answer`, or without one for `code` (and `cause`). */
  protected abstract exchanged(): void;

  message(bytes: Buffer): void {
    const counters = this.#counters!;
    const verdict = judge(bytes, this.#query, this.#questionEnd, this.#maxSize);
    if (typeof verdict === 'string') {
      counters.skipped++;
      this.#skipped++;
    } else if (verdict instanceof Malformed) {
      counters.malformed++;
      this.#bad = new Error(verdict.reason);
    } else {
      counters.answers++;
      // A socket that saw forgeries or garbage is retired: its port may be known to someone.
      if (this.#skipped > 0 || this.#bad !== undefined) this.#ch!.retire();
      this.answer = verdict;
      this.#end();
    }
  }

  error(err: NodeJS.ErrnoException): void {
    // A socket that cannot be opened or used (EMFILE, ENOBUFS, ...), or a TCP peer that hangs up
    // without answering, fails this try as c-ares does, with ECONNREFUSED.
    this.code = codes.CONNREFUSED;
    this.cause = err;
    this.#end();
  }

  expire(): void {
    this.#counters!.timeouts++;
    // Malformed replies count for nothing (as in c-ares): the try timed out, with the last one as cause.
    this.code = codes.TIMEOUT;
    this.cause = this.#bad;
    this.#end();
  }

  #end(): void {
    unschedule(this);
    this.#ch!.detach();
    this.#ch = null;
    this.exchanged();
  }
}

/** An exchange whose end settles a promise (the try loop's rarer paths). */
class PromisedExchange extends Exchange {
  readonly #resolve: (a: Attempt) => void;
  readonly #reject: (reason: unknown) => void;
  readonly #waiter: Waiter;

  constructor(resolve: (a: Attempt) => void, reject: (reason: unknown) => void, waiter: Waiter) {
    super();
    this.#resolve = resolve;
    this.#reject = reject;
    this.#waiter = waiter;
  }

  run(...args: Parameters<Exchange['start']>): void {
    this.#waiter.interrupt = (reason) => {
      this.abandon();
      this.#waiter.interrupt = null;
      this.#reject(reason);
    };
    this.start(...args);
  }

  protected exchanged(): void {
    this.#waiter.interrupt = null;
    this.#resolve(
      this.answer !== null
        ? { ok: true, message: this.answer }
        : { ok: false, code: this.code, cause: this.cause, anomaly: true },
    );
  }
}

/**
 * Runs one {@link Exchange} and resolves with what it came to. Rejects only when
 * `waiter.interrupt` is called.
 */
export function attempt(
  ch: Channel,
  query: Uint8Array,
  questionEnd: number,
  timeoutMs: number,
  maxSize: number,
  counters: ExchangeCounters,
  waiter: Waiter,
): Promise<Attempt> {
  return new Promise<Attempt>((resolve, reject) => {
    new PromisedExchange(resolve, reject, waiter).run(ch, query, questionEnd, timeoutMs, maxSize, counters);
  });
}
