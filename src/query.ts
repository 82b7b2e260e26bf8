// One call of a Resolver method, from its arguments to the one promise its caller holds.
import type { DispatchConfig } from './dispatcher.js';
import { codes, DnsError, type DnsErrorCode } from './errors.js';
import { Flight } from './flight.js';
import type { ServerAddress } from './servers.js';
import type { DecodedPacket, RecordType } from './wire/codec.js';

/** Turns the answer into the call's result; may throw a DnsError (NXDOMAIN, NODATA, ...). */
export type Finish<T> = (query: Query<T>, message: DecodedPacket, server: ServerAddress) => T;

// A promise executor runs synchronously inside `new Promise`, so one shared executor can hand its
// resolvers out through these two slots: a query's promise then costs no closure.
let capturedResolve: (value: unknown) => void = () => {};
let capturedReject: (reason: unknown) => void = () => {};
function capture(resolve: (value: unknown) => void, reject: (reason: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * The queries of one resolver that have not settled, for `cancel()`: a list linked through the
 * queries themselves, so joining and leaving it allocates nothing (a Set's table is reallocated
 * as it grows and shrinks, and in a bulk run it does so all the time).
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * query.launch(cfg, false, registry, undefined, undefined);
 * for (const q of registry.list()) q.abort(undefined);
 * ```
 */
export class Registry {
  /** @internal */ head: Query<unknown> | null = null;

  /** A copy of the queries listed now (aborting one takes it out of the list). */
  list(): Query<unknown>[] {
    const out: Query<unknown>[] = [];
    for (let q = this.head; q !== null; q = q.nextListed) out.push(q);
    return out;
  }
}

/**
 * A query of one resolver call: its job for the dispatcher, the promise it settles exactly once,
 * and how it is cancelled (by the call's signal, the resolver's deadline, or `cancel()`).
 */
export class Query<T> extends Flight {
  readonly promise: Promise<T>;
  /** Whatever `finish` needs besides the query (a record shape). */
  readonly detail: unknown;
  readonly #resolve: (value: T) => void;
  readonly #reject: (reason: unknown) => void;
  readonly #finish: Finish<T>;
  #registry: Registry | null = null;
  /** @internal Neighbours in the registry's list. */
  prevListed: Query<unknown> | null = null;
  /** @internal */
  nextListed: Query<unknown> | null = null;
  #signal: AbortSignal | undefined;
  #deadline: NodeJS.Timeout | undefined;

  constructor(
    name: string,
    type: RecordType,
    qtype: number,
    syscall: string,
    hostname: string,
    finish: Finish<T>,
    detail: unknown,
  ) {
    super(name, type, qtype, syscall, hostname);
    this.#finish = finish;
    this.detail = detail;
    this.promise = new Promise<T>(
      capture as (resolve: (value: T) => void, reject: (reason: unknown) => void) => void,
    );
    this.#resolve = capturedResolve;
    this.#reject = capturedReject;
  }

  /**
   * Starts the query: listed in `registry` (for `cancel()`) until it settles, cancelled by
   * `signal` or after `deadlineMs`.
   */
  launch(
    cfg: DispatchConfig,
    held: boolean,
    registry: Registry,
    signal: AbortSignal | undefined,
    deadlineMs: number | undefined,
  ): Promise<T> {
    this.#registry = registry;
    const self = this as Query<unknown>;
    self.nextListed = registry.head;
    if (registry.head !== null) registry.head.prevListed = self;
    registry.head = self;
    if (signal !== undefined) {
      this.#signal = signal;
      signal.addEventListener('abort', this, { once: true });
    }
    if (deadlineMs !== undefined) {
      this.#deadline = setTimeout(() => this.abort(undefined, codes.TIMEOUT), deadlineMs);
    }
    this.fly(cfg, held);
    return this.promise;
  }

  /** The signal's abort listener (the EventListener object protocol: no closure per query). */
  handleEvent(): void {
    this.abort(this.#signal?.reason);
  }

  /** Cancels the query: it rejects with `code` (ECANCELLED, or ETIMEOUT at the deadline). */
  abort(reason: unknown, code: DnsErrorCode = codes.CANCELLED): void {
    if (this.cancelled !== undefined) return;
    this.cancelled = new DnsError(code, { syscall: this.syscall, hostname: this.hostname, cause: reason });
    this.interrupt?.(this.cancelled);
  }

  protected answered(message: DecodedPacket, server: ServerAddress): void {
    this.#done();
    let value: T;
    try {
      value = this.#finish(this, message, server);
    } catch (err) {
      this.#reject(err);
      return;
    }
    this.#resolve(value);
  }

  protected failed(error: unknown): void {
    this.#done();
    this.#reject(error);
  }

  #done(): void {
    const registry = this.#registry;
    if (registry !== null) {
      this.#registry = null;
      const { prevListed: prev, nextListed: next } = this;
      if (prev === null) registry.head = next;
      else prev.nextListed = next;
      if (next !== null) next.prevListed = prev;
      this.prevListed = this.nextListed = null;
    }
    this.#signal?.removeEventListener('abort', this);
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
  }
}
