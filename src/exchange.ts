// One attempt: send one query on one socket and wait for the datagram that answers it.
import { codes, type DnsErrorCode } from './errors.js';
import { schedule, type Timed, unschedule, weaken } from './timers.js';
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
  weak = false;
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
  /** Set when the caller gave up while the query was on the wire: what to do when it ends. */
  #after: ((clean: boolean) => void) | null = null;

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

  /**
   * Stops waiting at once (the query was interrupted); {@link exchanged} is not called. The
   * socket stays fit for the next query: it remembers this query's ID, so that a late answer to
   * it is dropped quietly rather than taken for a forgery.
   */
  protected abandon(): void {
    unschedule(this);
    const ch = this.#ch;
    if (ch === null) return;
    this.#ch = null;
    ch.detach();
    ch.forget(this.#query);
  }

  /**
   * The caller gave up while the query is on the wire; the exchange goes on without it. The server
   * (a router) does not know the caller left: the query holds its place there until it is
   * answered or times out, so it keeps its socket (and permit) here too, and `after(clean)` gives
   * them back when it ends, instead of {@link exchanged}. A permit freed at give-up would let the
   * next caller send while this query still occupies the router: the give-up storm.
   */
  protected linger(after: (clean: boolean) => void): void {
    this.#after = after;
    // Nobody waits for it: it must not keep the process alive.
    weaken(this);
  }

  /** The exchange ended: with `answer`, or without one for `code` (and `cause`). */
  protected abstract exchanged(): void;

  message(bytes: Buffer): void {
    const counters = this.#counters!;
    const verdict = judge(bytes, this.#query, this.#questionEnd, this.#maxSize);
    if (typeof verdict === 'string') {
      // A late answer to the query this socket carried before (given up, or timed out): no forgery.
      if (bytes.length >= 12 && ((bytes[0]! << 8) | bytes[1]!) === this.#ch!.stale) return;
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
    this.#ch!.forget(this.#query);
    this.#end();
  }

  #end(): void {
    unschedule(this);
    this.#ch!.detach();
    this.#ch = null;
    const after = this.#after;
    if (after === null) {
      this.exchanged();
      return;
    }
    this.#after = null;
    // Answered or timed out, the socket is fit for another query; a socket error is not.
    after(this.answer !== null || this.code === codes.TIMEOUT);
  }
}

/**
 * Asked when the caller gives up while its query is on the wire: what to call when the query
 * ends (it then keeps its socket and a permit until then), or null to drop it at once.
 */
export type Linger = () => ((clean: boolean) => void) | null;

/** An exchange whose end settles a promise (the try loop's rarer paths). */
class PromisedExchange extends Exchange {
  readonly #resolve: (a: Attempt) => void;
  readonly #reject: (reason: unknown) => void;
  readonly #waiter: Waiter;
  readonly #linger: Linger | undefined;

  constructor(
    resolve: (a: Attempt) => void,
    reject: (reason: unknown) => void,
    waiter: Waiter,
    linger: Linger | undefined,
  ) {
    super();
    this.#resolve = resolve;
    this.#reject = reject;
    this.#waiter = waiter;
    this.#linger = linger;
  }

  run(...args: Parameters<Exchange['start']>): void {
    this.#waiter.interrupt = (reason) => {
      this.#waiter.interrupt = null;
      const after = this.#linger?.() ?? null;
      if (after === null) this.abandon();
      else this.linger(after);
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
 * `waiter.interrupt` is called; the exchange then lingers if `linger` says so.
 */
export function attempt(
  ch: Channel,
  query: Uint8Array,
  questionEnd: number,
  timeoutMs: number,
  maxSize: number,
  counters: ExchangeCounters,
  waiter: Waiter,
  linger?: Linger,
): Promise<Attempt> {
  return new Promise<Attempt>((resolve, reject) => {
    new PromisedExchange(resolve, reject, waiter, linger).run(
      ch,
      query,
      questionEnd,
      timeoutMs,
      maxSize,
      counters,
    );
  });
}
