// The gate: Twisted's DeferredSemaphore, promise-based. Tokens are handed from a release straight
// to the oldest waiter, so the count of holders never exceeds the limit and nobody barges in.

import { rangeError, typeError } from '../errors.js';
import { settleEach } from './settle.js';

/**
 * One input's outcome, as Twisted's DeferredList reports it: `[true, value]` or `[false, error]`.
 *
 * @example
 * ```ts
 * import { type Settled, semMap } from 'dnsgate';
 * const results: Settled<number>[] = await semMap(async (n: number) => n * 2, [1, 2, 3]);
 * for (const [ok, valueOrError] of results) console.log(ok ? valueOrError : `failed: ${valueOrError}`);
 * ```
 */
export type Settled<T> = [true, T] | [false, unknown];

type Resolve = (value?: unknown) => void;
type Reject = (reason: unknown) => void;
type Task = (...args: unknown[]) => unknown;

// A promise executor runs synchronously inside `new Promise`, so one shared executor can hand its
// resolvers out through these two slots: a queued acquire then costs no closure (Node 20 has no
// Promise.withResolvers).
let capturedResolve: Resolve = () => {};
let capturedReject: Reject = () => {};
function capture(resolve: (value: never) => void, reject: Reject): void {
  capturedResolve = resolve as Resolve;
  capturedReject = reject;
}

// A fast-path acquire has nothing to wait for; one shared settled promise serves every caller.
const RESOLVED: Promise<void> = Promise.resolve();
const ONCE = { once: true } as const;

/**
 * A queued acquirer: a plain `acquire()` (no task), or a `run()` task that starts the moment it is
 * handed a token. It is also its own abort listener (the EventListener object protocol), so a
 * waiter with a signal needs no closure either.
 */
class Waiter {
  prev: Waiter | null = null;
  next: Waiter | null = null;
  queued = false;
  readonly queue: WaitQueue;
  readonly resolve: Resolve;
  readonly reject: Reject;
  readonly signal: AbortSignal | undefined;
  readonly task: Task | undefined;
  readonly args: unknown[] | undefined;

  constructor(
    queue: WaitQueue,
    resolve: Resolve,
    reject: Reject,
    signal: AbortSignal | undefined,
    task: Task | undefined,
    args: unknown[] | undefined,
  ) {
    this.queue = queue;
    this.resolve = resolve;
    this.reject = reject;
    this.signal = signal;
    this.task = task;
    this.args = args;
  }

  handleEvent(): void {
    // Only a waiter still in the queue can be cancelled: one already handed a token has resolved
    // and owns that token, so aborting now must neither reject it nor lose the token.
    if (!this.queued) return;
    this.queue.remove(this);
    this.reject(this.signal!.reason);
  }
}

/**
 * A doubly linked FIFO: O(1) push, shift and removal of an aborted waiter from the middle. Waiters
 * pushed with {@link pushFirst} queue ahead of the others, in FIFO order among themselves.
 */
class WaitQueue {
  head: Waiter | null = null;
  tail: Waiter | null = null;
  /** The last waiter pushed with pushFirst still queued (they are the queue's first ones). */
  lastFirst: Waiter | null = null;
  size = 0;

  pushFirst(w: Waiter): void {
    const after = this.lastFirst;
    w.queued = true;
    w.prev = after;
    w.next = after === null ? this.head : after.next;
    if (after === null) this.head = w;
    else after.next = w;
    if (w.next === null) this.tail = w;
    else w.next.prev = w;
    this.lastFirst = w;
    this.size++;
  }

  push(w: Waiter): void {
    w.queued = true;
    w.prev = this.tail;
    if (this.tail === null) this.head = w;
    else this.tail.next = w;
    this.tail = w;
    this.size++;
  }

  shift(): Waiter | null {
    const w = this.head;
    if (w !== null) this.remove(w);
    return w;
  }

  remove(w: Waiter): void {
    if (w === this.lastFirst) this.lastFirst = w.prev;
    if (w.prev === null) this.head = w.next;
    else w.prev.next = w.next;
    if (w.next === null) this.tail = w.prev;
    else w.next.prev = w.prev;
    w.prev = w.next = null;
    w.queued = false;
    this.size--;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || value === undefined) return String(value);
  return `a ${typeof value}`;
}

function checkLimit(limit: unknown): number {
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) {
    throw rangeError(`Expected \`limit\` to be an integer >= 1, got ${show(limit)}`);
  }
  return limit;
}

/**
 * A counting semaphore with Twisted's DeferredSemaphore semantics: at most `limit` holders at once,
 * strict FIFO waiters, and a release hands its token straight to the oldest waiter (no barging).
 *
 * `run()` starts `fn` synchronously when a token is free (as Twisted does), and a queued task starts
 * synchronously inside the `release()` that frees its token. Releasing to a long queue of
 * synchronous tasks drains in a loop, never by recursion, so it cannot overflow the stack
 * (twisted#9304).
 *
 * Nested use can deadlock: a holder that waits for another token of the same semaphore may wait
 * forever once all tokens are held by such holders.
 *
 * @example
 * ```ts
 * import { Semaphore } from 'dnsgate';
 * const sem = new Semaphore(2);
 * // At most two fetches at once; the rest wait their turn in order.
 * const pages = await Promise.all(urls.map((url) => sem.run(fetch, url)));
 * ```
 */
export class Semaphore {
  #limit: number;
  /** Tokens out now. May exceed #limit after the limit shrinks: holders are never preempted. */
  #held = 0;
  #queue = new WaitQueue();
  /** Set while #drain hands out tokens, so a release from a task it started does not recurse. */
  #draining = false;

  // Bound once per semaphore (not per task) to release when a run() result settles.
  readonly #releaseValue = (value: unknown): unknown => {
    this.release();
    return value;
  };
  readonly #releaseError = (error: unknown): never => {
    this.release();
    throw error;
  };

  /**
   * @param limit how many tokens exist: an integer >= 1, else a RangeError.
   *
   * @example
   * ```ts
   * import { Semaphore } from 'dnsgate';
   * const sem = new Semaphore(4);
   * ```
   */
  constructor(limit: number) {
    this.#limit = checkLimit(limit);
  }

  /**
   * How many tokens exist. Settable at run time (same validation as the constructor): growing hands
   * the new tokens to waiters in FIFO order at once; shrinking never takes a token from a holder,
   * so `tokens` stays 0 until enough holders release.
   *
   * @example
   * ```ts
   * import { Semaphore } from 'dnsgate';
   * const sem = new Semaphore(2);
   * sem.limit = 8; // wakes up to six waiters
   * ```
   */
  get limit(): number {
    return this.#limit;
  }

  set limit(limit: number) {
    this.#limit = checkLimit(limit);
    this.#drain();
  }

  /**
   * Free tokens now: `limit` minus tokens held, never negative.
   *
   * @example
   * ```ts
   * import { Semaphore } from 'dnsgate';
   * const sem = new Semaphore(2);
   * await sem.acquire();
   * sem.tokens; // 1
   * ```
   */
  get tokens(): number {
    return this.#held < this.#limit ? this.#limit - this.#held : 0;
  }

  /**
   * How many acquirers (and `run()` tasks) wait for a token.
   *
   * @example
   * ```ts
   * import { Semaphore } from 'dnsgate';
   * const sem = new Semaphore(1);
   * await sem.acquire();
   * void sem.acquire();
   * sem.waiting; // 1
   * ```
   */
  get waiting(): number {
    return this.#queue.size;
  }

  /**
   * Takes a token now if one is free and nobody waits (a newcomer never overtakes a waiter).
   * Returns whether it did; on `true` the caller must `release()`.
   *
   * @example
   * ```ts
   * import { Semaphore } from 'dnsgate';
   * const sem = new Semaphore(1);
   * if (sem.tryAcquire()) {
   *   try { doWork(); } finally { sem.release(); }
   * }
   * ```
   */
  tryAcquire(): boolean {
    if (this.#held < this.#limit && this.#queue.size === 0) {
      this.#held++;
      return true;
    }
    return false;
  }

  /**
   * Resolves once the caller holds a token; the caller must `release()` it. Waiters are served in
   * FIFO order. With a `signal`: an already-aborted signal rejects at once with `signal.reason` and
   * takes no token; aborting while waiting leaves the queue and rejects with `signal.reason`; aborting
   * after the token was handed over changes nothing (the acquire has resolved and the token is
   * the caller's). With `first: true` it queues ahead of the other waiters (behind earlier `first`
   * ones): for a retry that has waited its turn once already.
   *
   * @example
   * ```ts
   * import { Semaphore } from 'dnsgate';
   * const sem = new Semaphore(1);
   * await sem.acquire({ signal: AbortSignal.timeout(1000) });
   * try { await work(); } finally { sem.release(); }
   * ```
   */
  acquire(options?: { signal?: AbortSignal; first?: boolean }): Promise<void> {
    const signal = options?.signal;
    if (signal !== undefined) {
      if (!isAbortSignal(signal)) {
        return Promise.reject(typeError(`Expected \`signal\` to be an AbortSignal, got ${show(signal)}`));
      }
      if (signal.aborted) return Promise.reject(signal.reason);
    }
    if (this.#held < this.#limit && this.#queue.size === 0) {
      this.#held++;
      return RESOLVED;
    }
    const promise = new Promise<void>(capture);
    const w = new Waiter(this.#queue, capturedResolve, capturedReject, signal, undefined, undefined);
    if (options?.first === true) this.#queue.pushFirst(w);
    else this.#queue.push(w);
    if (signal !== undefined) signal.addEventListener('abort', w, ONCE);
    return promise;
  }

  /**
   * Gives one token back. If someone waits, the token goes straight to the oldest waiter (so
   * `tokens` stays 0); a queued `run()` task starts before this returns. Throws an Error when no
   * token is held: releasing more than was acquired would silently raise the limit.
   *
   * @example
   * ```ts
   * import { Semaphore } from 'dnsgate';
   * const sem = new Semaphore(1);
   * await sem.acquire();
   * sem.release();
   * ```
   */
  release(): void {
    if (this.#held === 0) {
      throw new Error(
        'release() called with no token held: releasing more than was acquired would raise the limit',
      );
    }
    this.#held--;
    if (this.#queue.size !== 0) this.#drain();
  }

  /**
   * Acquires a token, calls `fn(...args)`, and releases the token when `fn`'s result settles
   * (fulfilled, rejected, or thrown synchronously), passing the result or error through.
   * `fn` runs synchronously when a token is free now.
   *
   * @example
   * ```ts
   * import { Semaphore } from 'dnsgate';
   * const sem = new Semaphore(2);
   * const mx = await sem.run((name: string) => resolver.resolveMx(name), 'example.com');
   * ```
   */
  run<A extends unknown[], R>(fn: (...args: A) => R | PromiseLike<R>, ...args: A): Promise<Awaited<R>> {
    if (typeof fn !== 'function') {
      return Promise.reject(typeError(`Expected \`fn\` to be a function, got ${show(fn)}`));
    }
    if (this.#held < this.#limit && this.#queue.size === 0) {
      this.#held++;
      return this.#call(fn as Task, args) as Promise<Awaited<R>>;
    }
    const promise = new Promise(capture);
    this.#queue.push(new Waiter(this.#queue, capturedResolve, capturedReject, undefined, fn as Task, args));
    return promise as Promise<Awaited<R>>;
  }

  /**
   * Twisted's `semMap` with DeferredList's settled results: runs `fn(item, ...args)` for each
   * input under this semaphore and resolves with one `[true, value]` or `[false, error]` per input,
   * in input order. Lazy: the next input is pulled only when a token is free, so at most `limit`
   * items run at once; the results array grows with the input (for unbounded input, iterate
   * `resolver.resolveEach` instead, whose memory does not). Never rejects because an item
   * failed; rejects only if the input iterable itself throws (or `fn` is not a function).
   *
   * @example
   * ```ts
   * import { Semaphore } from 'dnsgate';
   * const sem = new Semaphore(2);
   * const results = await sem.map((name: string) => resolver.resolveMx(name), ['google.com', 'yahoo.com']);
   * // [[true, [...]], [false, DnsError]]
   * ```
   */
  async map<T, R, A extends unknown[]>(
    fn: (item: T, ...args: A) => R | PromiseLike<R>,
    things: Iterable<T> | AsyncIterable<T>,
    ...args: A
  ): Promise<Settled<R>[]> {
    if (typeof fn !== 'function') throw typeError(`Expected \`fn\` to be a function, got ${show(fn)}`);
    // settleEach passes (item, index), but fn must see only (item, ...args). Without extra args,
    // skip the spread: it allocates on every call.
    const call =
      args.length === 0
        ? (item: T) => (fn as unknown as (item: T) => R | PromiseLike<R>)(item)
        : (item: T) => fn(item, ...args);
    const results: Settled<R>[] = [];
    for await (const r of settleEach(this, call, things)) {
      results[r.index] = r.ok ? [true, r.value] : [false, r.error];
    }
    return results;
  }

  /** Calls a task that already holds a token and arranges the release; never throws. */
  #call(fn: Task, args: unknown[]): Promise<unknown> {
    let out: unknown;
    try {
      out = fn(...args);
      if (!isThenable(out)) {
        this.release();
        return Promise.resolve(out);
      }
    } catch (error) {
      this.release();
      return Promise.reject(error);
    }
    return Promise.resolve(out).then(this.#releaseValue, this.#releaseError);
  }

  /** Starts a queued task that was just handed a token; settles its run() promise; never throws. */
  #start(w: Waiter): void {
    let out: unknown;
    try {
      out = w.task!(...w.args!);
      if (!isThenable(out)) {
        // Settle the caller before releasing: the release may run the next task right here.
        w.resolve(out);
        this.release();
        return;
      }
    } catch (error) {
      w.reject(error);
      this.release();
      return;
    }
    // The caller's promise adopts one chained on the result with the semaphore's bound release
    // handlers: no closure per task (measured as fast as direct resolve/reject closures).
    w.resolve(Promise.resolve(out).then(this.#releaseValue, this.#releaseError));
  }

  /**
   * Hands free tokens to waiters, oldest first. A loop, not recursion: a task started here that
   * finishes synchronously releases into this same loop (via #draining) instead of a nested call.
   */
  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#held < this.#limit) {
        const w = this.#queue.shift();
        if (w === null) break;
        this.#held++;
        if (w.signal !== undefined) w.signal.removeEventListener('abort', w);
        if (w.task === undefined) w.resolve();
        else this.#start(w);
      }
    } finally {
      this.#draining = false;
    }
  }
}

function isAbortSignal(signal: unknown): signal is AbortSignal {
  return (
    typeof signal === 'object' &&
    signal !== null &&
    typeof (signal as AbortSignal).aborted === 'boolean' &&
    typeof (signal as AbortSignal).addEventListener === 'function'
  );
}
