// A bulk run over many names: the lazy engine of gate/settle.ts, plus live progress counts.
import { type Gate, type SettledItem, settleEach } from '../gate/settle.js';

/**
 * Live counts of a bulk run.
 *
 * @example
 * ```ts
 * const { started, settled, ok, failed, inFlight }: Progress = run.progress;
 * ```
 */
export interface Progress {
  /** Names taken from the input and started. */
  started: number;
  /** Lookups finished, either way. */
  settled: number;
  ok: number;
  failed: number;
  /** Started and not yet settled (never more than the gate's limit). */
  inFlight: number;
}

/**
 * One name's outcome, tagged with its position in the input.
 *
 * @example
 * ```ts
 * for await (const r of resolver.resolveEach(names, 'MX')) {
 *   if (r.ok) console.log(r.index, r.name, r.value);
 *   else console.error(r.index, r.name, (r.error as DnsError).code);
 * }
 * ```
 */
export type BulkResult<V> =
  | { index: number; name: string; ok: true; value: V }
  | { index: number; name: string; ok: false; error: unknown };

/**
 * Options of `Resolver#resolveEach`.
 *
 * @example
 * ```ts
 * const run = resolver.resolveEach(names, 'MX', { ordered: true, signal: controller.signal });
 * ```
 */
export interface ResolveEachOptions {
  /** Yield in input order (holding at most a bounded window of early results). Default false. */
  ordered?: boolean;
  /**
   * Stop: no more names are pulled, lookups in flight are cancelled and yielded as ECANCELLED
   * failures, then the iteration throws `signal.reason`.
   */
  signal?: AbortSignal;
}

type Listener = (progress: Readonly<Progress>) => void;

/**
 * The results of `Resolver#resolveEach`, as an async iterator, with its live {@link Progress}.
 *
 * @example
 * ```ts
 * const run = resolver.resolveEach(names, 'MX');
 * const timer = setInterval(() => console.error(run.progress), 1000);
 * for await (const r of run) if (r.ok) console.log(r.name, r.value);
 * clearInterval(timer);
 * ```
 */
export class BulkRun<V> implements AsyncIterableIterator<BulkResult<V>> {
  readonly #progress: Progress = { started: 0, settled: 0, ok: 0, failed: 0, inFlight: 0 };
  readonly #inner: AsyncIterableIterator<SettledItem<string, V>>;
  readonly #cancel: (reason: unknown) => void;
  #listeners: Listener[] = [];
  /** The caller's signal while this run listens to it (one listener per run, removed at the end). */
  #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.#cancel(this.#signal?.reason);

  /**
   * `lookup` starts one name's query; `cancel(reason)` aborts every query of this run still in
   * flight (on the caller's abort, or when the caller leaves the loop early).
   */
  constructor(
    gate: Gate,
    names: Iterable<string> | AsyncIterable<string>,
    lookup: (name: string) => Promise<V>,
    cancel: (reason: unknown) => void,
    options: ResolveEachOptions = {},
  ) {
    const p = this.#progress;
    const { signal } = options;
    this.#cancel = cancel;
    if (signal !== undefined && !signal.aborted) {
      this.#signal = signal;
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    // Counting happens on the lookup's own promise: two increments and a null check per name.
    const done = (ok: boolean) => {
      p.inFlight--;
      p.settled++;
      if (ok) p.ok++;
      else p.failed++;
      if (this.#listeners.length !== 0) this.#tell(p);
    };
    const onOk = (value: V) => {
      done(true);
      return value;
    };
    const onError = (error: unknown): never => {
      done(false);
      throw error;
    };
    const run = (name: string) => {
      p.started++;
      p.inFlight++;
      return lookup(name).then(onOk, onError);
    };
    this.#inner = settleEach(gate, run, names, {
      ...(options.ordered === undefined ? {} : { ordered: options.ordered }),
      ...(signal === undefined ? {} : { signal }),
    });
  }

  /** Calls the subscribers; one that throws changes no result and stops no other (its error is rethrown apart). */
  #tell(p: Readonly<Progress>): void {
    for (const l of this.#listeners) {
      try {
        l(p);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** The run is over: stop listening to the caller's signal. */
  #release(): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#signal = undefined;
  }

  /** Live counts: read them any time (the object is updated in place). */
  get progress(): Readonly<Progress> {
    return this.#progress;
  }

  /**
   * Calls `listener` after each lookup settles; returns a function that unsubscribes.
   *
   * @example
   * ```ts
   * const stop = run.subscribe((p) => bar.update(p.settled));
   * ```
   */
  subscribe(listener: Listener): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  async next(): Promise<IteratorResult<BulkResult<V>, undefined>> {
    let step: IteratorResult<SettledItem<string, V>, undefined>;
    try {
      step = await this.#inner.next();
    } catch (error) {
      this.#release();
      throw error;
    }
    if (step.done) {
      this.#release();
      return step;
    }
    const r = step.value;
    return {
      done: false,
      value: r.ok
        ? { index: r.index, name: r.item, ok: true, value: r.value }
        : { index: r.index, name: r.item, ok: false, error: r.error },
    };
  }

  /** Leaves the run (a `break` out of `for await`): no more names are pulled, and the lookups in flight are cancelled. */
  async return(): Promise<IteratorResult<BulkResult<V>, undefined>> {
    this.#release();
    await this.#inner.return?.();
    this.#cancel(undefined);
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
