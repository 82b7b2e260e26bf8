import { rangeError, typeError } from '../errors.js';
// The lazy engine behind Semaphore.map and the Resolver's bulk helpers: a worker pool that pulls
// the next input only when it holds a token and the consumer keeps up, and yields one settled
// result per input. Memory is O(window), never O(inputs): no Promise.all over millions.

/**
 * What {@link settleEach} needs of a gate. A `Semaphore` is one. `tryAcquire` (a synchronous fast
 * path, which must refuse while anyone waits) and `limit` (the default window) are used when present.
 * `acquire` should reject when its signal aborts: settleEach passes one to withdraw a waiting
 * acquire when it stops. (A gate that ignores it still works: the late token is given straight back.)
 *
 * @example
 * ```ts
 * import type { Gate } from './settle.js';
 * // A gate that lets everything through, for tests:
 * const open: Gate = { acquire: () => Promise.resolve(), release: () => {} };
 * ```
 */
export interface Gate {
  acquire(options?: { signal?: AbortSignal }): Promise<void>;
  release(): void;
  tryAcquire?(): boolean;
  readonly limit?: number;
}

/**
 * One input's outcome, tagged with its position in the input.
 *
 * @example
 * ```ts
 * import { type SettledItem, settleEach } from './settle.js';
 * for await (const r of settleEach(sem, lookup, names)) {
 *   if (r.ok) console.log(r.index, r.item, r.value);
 *   else console.error(r.index, r.item, r.error);
 * }
 * ```
 */
export type SettledItem<T, R> =
  | { index: number; item: T; ok: true; value: R }
  | { index: number; item: T; ok: false; error: unknown };

/**
 * Options of {@link settleEach}.
 *
 * @example
 * ```ts
 * import { settleEach, type SettleEachOptions } from './settle.js';
 * const options: SettleEachOptions = { ordered: true, signal: AbortSignal.timeout(60_000) };
 * for await (const r of settleEach(sem, lookup, names, options)) console.log(r);
 * ```
 */
export interface SettleEachOptions {
  /** Yield in input order instead of completion order. Default false. */
  ordered?: boolean;
  /** Stop pulling inputs; the started ones finish and are yielded, then `signal.reason` is thrown. */
  signal?: AbortSignal;
  /**
   * The most inputs in hand at once: started and not yet taken by the consumer (running, or
   * settled and buffered). Pulling pauses while it is full, so a slow consumer slows the pull; in
   * ordered mode it bounds how far past a slow item the engine runs ahead. Default: twice
   * `gate.limit` (read each time, so it follows a limit changed at run time), or 32 for a gate
   * without a limit. An integer >= 1.
   */
  window?: number;
}

type Step<T> = IteratorResult<T, unknown>;
type Read<T, R> = {
  resolve: (r: IteratorResult<SettledItem<T, R>, undefined>) => void;
  reject: (e: unknown) => void;
};

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });
const NO_ERROR: unique symbol = Symbol('no error');
const FALLBACK_LIMIT = 16;

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return String(value);
  if (value === null || value === undefined) return String(value);
  return `a ${typeof value}`;
}

function isObject(value: unknown): value is object {
  return value !== null && (typeof value === 'object' || typeof value === 'function');
}

/**
 * Runs `fn(item, index)` for each input under `gate` and yields one {@link SettledItem} per input,
 * exactly once: in completion order by default, in input order with `ordered`.
 *
 * Lazy and backpressured: nothing happens until the first `next()`; the next input is pulled only
 * after a token is acquired (and the token is given back if the input turns out to be done), and
 * only while fewer than `window` inputs are in hand. Each token is released when its item settles.
 *
 * Endings:
 * - `fn` throwing synchronously or rejecting is a failed item (`ok: false`), never an exception.
 * - If the input iterator throws, every started item still settles and is yielded, then the
 *   iterator's error is thrown from `next()`.
 * - If `signal` aborts, no more inputs are pulled (a waiting acquire is cancelled, and an input an
 *   async iterator delivers after the abort is dropped unstarted); the started items finish and
 *   are yielded (pass the signal into `fn` yourself to cancel them), then `signal.reason` is
 *   thrown. The input iterator is closed with `return()`.
 * - `return()` (a `break` out of `for await`) stops pulling at once and closes the input iterator;
 *   started items keep running, their results are dropped, and their tokens come back as each
 *   settles. No token is released twice.
 *
 * Items are passed to `fn` as the iterator yields them; promises from a sync iterable are not awaited.
 *
 * @example
 * ```ts
 * import { Resolver, Semaphore } from 'dnsgate';
 * import { settleEach } from './settle.js';
 * const resolver = new Resolver();
 * const sem = new Semaphore(16);
 * for await (const r of settleEach(sem, (name: string) => resolver.resolveMx(name), readLines('domains.txt'))) {
 *   console.log(r.item, r.ok ? r.value : r.error);
 * }
 * ```
 */
export function settleEach<T, R>(
  gate: Gate,
  fn: (item: T, index: number) => R | PromiseLike<R>,
  things: Iterable<T> | AsyncIterable<T>,
  options?: SettleEachOptions,
): AsyncIterableIterator<SettledItem<T, R>> {
  if (!isObject(gate) || typeof gate.acquire !== 'function' || typeof gate.release !== 'function') {
    throw typeError(`Expected \`gate\` to have acquire() and release(), got ${show(gate)}`);
  }
  if (typeof fn !== 'function') throw typeError(`Expected \`fn\` to be a function, got ${show(fn)}`);
  const isAsync =
    isObject(things) && typeof (things as AsyncIterable<T>)[Symbol.asyncIterator] === 'function';
  if (!isAsync && (!isObject(things) || typeof (things as Iterable<T>)[Symbol.iterator] !== 'function')) {
    // Strings are iterable but almost always a mistake here (a name instead of a list of names).
    throw typeError(`Expected \`things\` to be an iterable or async iterable, got ${show(things)}`);
  }
  const window = options?.window;
  if (window !== undefined && (typeof window !== 'number' || !Number.isInteger(window) || window < 1)) {
    throw rangeError(`Expected \`window\` to be an integer >= 1, got ${show(window)}`);
  }
  const signal = options?.signal;
  if (
    signal !== undefined &&
    (!isObject(signal) ||
      typeof signal.aborted !== 'boolean' ||
      typeof signal.addEventListener !== 'function')
  ) {
    throw typeError(`Expected \`signal\` to be an AbortSignal, got ${show(signal)}`);
  }
  return new SettleEach(gate, fn, things, isAsync, options?.ordered === true, window, signal);
}

class SettleEach<T, R> implements AsyncIterableIterator<SettledItem<T, R>> {
  readonly #gate: Gate;
  readonly #fn: (item: T, index: number) => R | PromiseLike<R>;
  readonly #things: Iterable<T> | AsyncIterable<T>;
  readonly #isAsync: boolean;
  readonly #ordered: boolean;
  readonly #window: number | undefined;
  readonly #signal: AbortSignal | undefined;
  /** Cancels the pump's waiting acquire when we stop, so it does not hold a place in the gate's queue. */
  readonly #stopper = new AbortController();
  readonly #acquireOptions = { signal: this.#stopper.signal };
  readonly #onAbort = () => this.#abort();

  #iterator: Iterator<T> | AsyncIterator<T> | null = null;
  #begun = false;
  /** The pump loop is running (possibly suspended in an await). */
  #pumping = false;
  /** The pump waits at the gate (not inside the source, which may then be closed at once). */
  #atGate = false;
  /** No more inputs will be pulled: the source is done, threw, or we stopped. */
  #sourceDone = false;
  #stopped = false;
  /** The consumer left: results are dropped. */
  #returned = false;
  /** Every result has been delivered (or dropped); only a pending error remains to report. */
  #finished = false;
  #error: unknown = NO_ERROR;

  /** Inputs started (also the next index). */
  #started = 0;
  /** Results taken by the consumer. In ordered mode, also the index of the next to yield. */
  #yielded = 0;
  /** Started and not yet settled. */
  #active = 0;
  /** Completion order: settled results in a FIFO (array + head index, no shift()). */
  #ready: (SettledItem<T, R> | undefined)[] = [];
  #readyHead = 0;
  /** Input order: settled results that wait for an earlier one. */
  #pending = new Map<number, SettledItem<T, R>>();
  /** Consumers' next() calls waiting for a result. */
  #reads: Read<T, R>[] = [];

  constructor(
    gate: Gate,
    fn: (item: T, index: number) => R | PromiseLike<R>,
    things: Iterable<T> | AsyncIterable<T>,
    isAsync: boolean,
    ordered: boolean,
    window: number | undefined,
    signal: AbortSignal | undefined,
  ) {
    this.#gate = gate;
    this.#fn = fn;
    this.#things = things;
    this.#isAsync = isAsync;
    this.#ordered = ordered;
    this.#window = window;
    this.#signal = signal;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<SettledItem<T, R>, undefined>> {
    if (!this.#begun) this.#begin();
    const r = this.#take();
    if (r !== undefined) {
      this.#pump();
      return Promise.resolve({ done: false, value: r });
    }
    // The last result may have just been taken: nothing else would notice that we are done.
    this.#checkEnd();
    if (this.#finished) return this.#end();
    const { promise, read } = newRead<T, R>();
    this.#reads.push(read);
    this.#pump();
    return promise;
  }

  return(): Promise<IteratorResult<SettledItem<T, R>, undefined>> {
    if (!this.#finished) {
      this.#returned = true;
      this.#error = NO_ERROR;
      this.#ready = [];
      this.#readyHead = 0;
      this.#pending.clear();
      this.#stop();
      this.#finish();
    }
    return Promise.resolve(DONE);
  }

  #begin(): void {
    this.#begun = true;
    try {
      this.#iterator = this.#isAsync
        ? (this.#things as AsyncIterable<T>)[Symbol.asyncIterator]()
        : (this.#things as Iterable<T>)[Symbol.iterator]();
    } catch (error) {
      this.#fail(error);
      this.#sourceDone = true;
      this.#checkEnd();
      return;
    }
    const signal = this.#signal;
    if (signal === undefined) return;
    if (signal.aborted) this.#abort();
    else signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The next result the consumer may take, if one is ready. */
  #take(): SettledItem<T, R> | undefined {
    let r: SettledItem<T, R> | undefined;
    if (this.#ordered) {
      r = this.#pending.get(this.#yielded);
      if (r !== undefined) this.#pending.delete(this.#yielded);
    } else if (this.#readyHead < this.#ready.length) {
      r = this.#ready[this.#readyHead];
      this.#ready[this.#readyHead++] = undefined;
      if (this.#readyHead === this.#ready.length) {
        this.#ready.length = 0;
        this.#readyHead = 0;
      } else if (this.#readyHead >= 64 && this.#readyHead * 2 >= this.#ready.length) {
        // A consumer that stays a few behind never empties the buffer: drop the taken prefix now
        // and then (amortised O(1)) so the array does not grow with the input.
        this.#ready = this.#ready.slice(this.#readyHead);
        this.#readyHead = 0;
      }
    }
    if (r !== undefined) this.#yielded++;
    return r;
  }

  #windowFull(): boolean {
    let window = this.#window;
    if (window === undefined) {
      const limit = this.#gate.limit;
      window = 2 * (typeof limit === 'number' && limit >= 1 ? limit : FALLBACK_LIMIT);
    }
    return this.#started - this.#yielded >= window;
  }

  #pump(): void {
    if (this.#pumping || this.#sourceDone || this.#stopped || this.#windowFull()) return;
    this.#pumping = true;
    void this.#pumpLoop();
  }

  /**
   * One loop at a time: take a token, then pull one input, then start it. Runs synchronously as
   * long as the gate's fast path and a sync iterator allow, so a sync source costs no extra ticks.
   */
  async #pumpLoop(): Promise<void> {
    const gate = this.#gate;
    try {
      while (!this.#sourceDone && !this.#stopped && !this.#windowFull()) {
        if (gate.tryAcquire === undefined || !gate.tryAcquire()) {
          try {
            // The stop signal withdraws a waiting acquire, but registering it costs an abort
            // listener per input. While inputs of ours run, one of them frees a token soon, and a
            // stopped run gives back any token it gets: only a run with nothing running needs it.
            this.#atGate = true;
            await gate.acquire(this.#active === 0 ? this.#acquireOptions : undefined);
          } catch (error) {
            // Our own stop cancels the acquire on purpose; anything else is the gate failing.
            if (!this.#stopped) this.#fail(error);
            break;
          } finally {
            this.#atGate = false;
          }
          if (this.#stopped) {
            gate.release();
            break;
          }
        }
        let step: Step<T>;
        try {
          const s = this.#iterator!.next();
          step = this.#isAsync ? await s : (s as Step<T>);
          if (!isObject(step)) throw new TypeError(`Iterator result ${show(step)} is not an object`);
        } catch (error) {
          gate.release();
          // An iterator that threw is finished: it is not closed with return().
          this.#sourceDone = true;
          this.#fail(error);
          break;
        }
        if (step.done) {
          gate.release();
          this.#sourceDone = true;
          break;
        }
        if (this.#stopped) {
          // Stopped while the async iterator was producing: this input is dropped unstarted.
          gate.release();
          break;
        }
        this.#start(step.value);
      }
    } finally {
      this.#pumping = false;
      if (this.#stopped && !this.#sourceDone) this.#closeSource();
      this.#checkEnd();
    }
  }

  #start(item: T): void {
    const index = this.#started++;
    this.#active++;
    let out: R | PromiseLike<R>;
    try {
      out = this.#fn(item, index);
      if (!isObject(out) || typeof (out as PromiseLike<R>).then !== 'function') {
        this.#settle({ index, item, ok: true, value: out as R });
        return;
      }
    } catch (error) {
      this.#settle({ index, item, ok: false, error });
      return;
    }
    Promise.resolve(out).then(
      (value) => this.#settle({ index, item, ok: true, value }),
      (error: unknown) => this.#settle({ index, item, ok: false, error }),
    );
  }

  #settle(r: SettledItem<T, R>): void {
    this.#active--;
    try {
      this.#gate.release();
    } catch (error) {
      // Only a gate that was released behind our back gets here; report it, do not lose it.
      this.#fail(error);
    }
    if (!this.#returned) this.#deliver(r);
    this.#pump();
    this.#checkEnd();
  }

  #deliver(r: SettledItem<T, R>): void {
    const reads = this.#reads;
    if (!this.#ordered) {
      if (reads.length !== 0) {
        this.#yielded++;
        reads.shift()!.resolve({ done: false, value: r });
      } else {
        this.#ready.push(r);
      }
      return;
    }
    this.#pending.set(r.index, r);
    while (reads.length !== 0) {
      const next = this.#take();
      if (next === undefined) break;
      reads.shift()!.resolve({ done: false, value: next });
    }
  }

  /** Stops pulling for good (the error, if any, was recorded by the caller). */
  #stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopper.abort();
    // A pump inside the source closes it itself once that await returns.
    if ((!this.#pumping || this.#atGate) && !this.#sourceDone) this.#closeSource();
  }

  #fail(error: unknown): void {
    if (this.#error === NO_ERROR && !this.#returned) this.#error = error;
    this.#stop();
  }

  #abort(): void {
    if (this.#finished || this.#stopped) return;
    this.#fail(this.#signal!.reason);
    this.#checkEnd();
  }

  #closeSource(): void {
    this.#sourceDone = true;
    const it = this.#iterator;
    if (it === null || typeof it.return !== 'function') return;
    // Closing is a courtesy to the source (its finally blocks run); its failure is not ours to report.
    try {
      const closing = it.return();
      if (this.#isAsync) Promise.resolve(closing).catch(() => {});
    } catch {}
  }

  /** Finishes once nothing can produce another result: no pull, no running item, nothing buffered. */
  #checkEnd(): void {
    if (this.#finished || this.#active !== 0) return;
    // Once stopped, a pump still waiting (on a gate that ignores its signal, or on an async input)
    // can start nothing more, and gives back any token it gets: no need to wait for it.
    if (this.#pumping && !this.#stopped) return;
    if (!this.#sourceDone && !this.#stopped) return;
    if (this.#readyHead < this.#ready.length || this.#pending.size !== 0) return;
    this.#finish();
  }

  #finish(): void {
    this.#finished = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    const reads = this.#reads;
    this.#reads = [];
    for (const read of reads) {
      if (this.#error === NO_ERROR) read.resolve(DONE);
      else {
        const error = this.#error;
        this.#error = NO_ERROR;
        read.reject(error);
      }
    }
  }

  /** After the last result: the recorded error once, then done forever. */
  #end(): Promise<IteratorResult<SettledItem<T, R>, undefined>> {
    if (this.#error === NO_ERROR) return Promise.resolve(DONE);
    const error = this.#error;
    this.#error = NO_ERROR;
    return Promise.reject(error);
  }
}

function newRead<T, R>(): {
  promise: Promise<IteratorResult<SettledItem<T, R>, undefined>>;
  read: Read<T, R>;
} {
  let read!: Read<T, R>;
  const promise = new Promise<IteratorResult<SettledItem<T, R>, undefined>>((resolve, reject) => {
    read = { resolve, reject };
  });
  return { promise, read };
}
