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
 * The queries of one resolver flying now, by question (qtype, then name as sent): a call that
 * asks the same question rides on the one in flight instead of sending another (Twisted Names'
 * in-flight coalescing). Each rider makes its own result from the shared answer.
 *
 * @example
 * ```ts
 * const lanes: Lanes = new Map();
 * query.launch(cfg, false, registry, undefined, undefined, lanes);
 * ```
 */
export type Lanes = Map<number, Map<string, Query<unknown>>>;

/**
 * The tag of one bulk run's queries (its identity is all it is): the run aborts the queries
 * that carry it, and only those, when its caller leaves early or its signal aborts.
 *
 * @example
 * ```ts
 * const scope: RunScope = {};
 * query.scope = scope;
 * for (const q of registry.list()) if (q.scope === scope) q.abort(undefined);
 * ```
 */
export type RunScope = Record<string, never>;

/**
 * A query of one resolver call: its job for the dispatcher, the promise it settles exactly once,
 * and how it is cancelled (by the call's signal, the resolver's deadline, or `cancel()`).
 */
export class Query<T> extends Flight {
  readonly promise: Promise<T>;
  /** Whatever `finish` needs besides the query (a record shape). */
  readonly detail: unknown;
  /** The bulk run this query belongs to, if any. */
  scope: RunScope | undefined = undefined;
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
  // Coalescing: a leader is listed in `#lane` under its name and carries `#riders`; a rider
  // waits on `#leader`. `#cfg`/`#held` let a rider fly in its leader's place.
  #lane: Map<string, Query<unknown>> | null = null;
  #riders: Query<unknown>[] | null = null;
  #leader: Query<unknown> | null = null;
  #cfg: DispatchConfig | null = null;
  #held = false;

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
   * `signal` or after `deadlineMs`. With `lanes`, it rides on a query in flight for the same
   * question if there is one, and otherwise flies listed there for others to ride on.
   */
  launch(
    cfg: DispatchConfig,
    held: boolean,
    registry: Registry,
    signal: AbortSignal | undefined,
    deadlineMs: number | undefined,
    lanes?: Lanes,
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
    if (lanes !== undefined) {
      // Kept for a rider that may have to fly in its leader's place.
      this.#cfg = cfg;
      this.#held = held;
      let lane = lanes.get(this.qtype);
      if (lane === undefined) {
        lane = new Map();
        lanes.set(this.qtype, lane);
      }
      const leader = lane.get(this.name);
      if (leader !== undefined) {
        // The question is on the wire already: no socket, no permit beyond one `held` already.
        this.#ride(leader);
        return this.promise;
      }
      lane.set(this.name, self);
      this.#lane = lane;
    }
    this.fly(cfg, held);
    return this.promise;
  }

  #ride(leader: Query<unknown>): void {
    this.#leader = leader;
    if (leader.#riders === null) leader.#riders = [];
    leader.#riders.push(this as Query<unknown>);
    this.interrupt = this.#alight;
  }

  /** `interrupt` of a rider: its caller gave up; the leader flies on for the others. */
  #alight(reason: unknown): void {
    this.interrupt = null;
    const riders = this.#leader!.#riders!;
    riders.splice(riders.indexOf(this as Query<unknown>), 1);
    this.#leader = null;
    this.failed(reason);
  }

  /** Leaves the lane (later calls fly afresh) and takes the riders, as the exchange has ended. */
  #land(): Query<unknown>[] | null {
    const lane = this.#lane;
    if (lane !== null) {
      this.#lane = null;
      if (lane.get(this.name) === this) lane.delete(this.name);
    }
    const riders = this.#riders;
    this.#riders = null;
    if (riders === null || riders.length === 0) return null;
    for (const r of riders) {
      r.#leader = null;
      r.interrupt = null;
    }
    return riders;
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
    const riders = this.#land();
    this.#done();
    let value: T | undefined;
    let error: unknown;
    let ok = true;
    try {
      value = this.#finish(this, message, server);
    } catch (err) {
      ok = false;
      error = err;
    }
    if (ok) this.#resolve(value as T);
    else this.#reject(error);
    // Each rider makes its own result (fresh objects, its own errors) from the same answer.
    if (riders !== null) for (const r of riders) r.answered(message, server);
  }

  protected failed(error: unknown): void {
    const lane = this.#lane;
    const riders = this.#land();
    this.#done();
    this.#reject(error);
    if (riders === null) return;
    if (this.cancelled !== undefined) {
      // This caller gave up, not the network: the first rider flies in its place.
      const next = riders[0]!;
      if (lane !== null && !lane.has(next.name)) {
        lane.set(next.name, next);
        next.#lane = lane;
      }
      for (let i = 1; i < riders.length; i++) riders[i]!.#ride(next);
      next.fly(next.#cfg!, next.#held);
      return;
    }
    for (const r of riders) r.failed(error instanceof DnsError ? r.#own(error) : error);
  }

  /** The leader's failure, named for this call (its syscall and hostname). */
  #own(error: DnsError): DnsError {
    return new DnsError(error.code, {
      syscall: this.syscall,
      hostname: this.hostname,
      cause: error.cause,
      server: error.server,
      ...(error.errors === undefined ? {} : { errors: error.errors }),
    });
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
