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
 * The queries of one resolver that have not settled, for `cancel()`, oldest first: a list linked
 * through the queries themselves, so joining and leaving it allocates nothing (a Set's table is
 * reallocated as it grows and shrinks, and in a bulk run it does so all the time).
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
  /** @internal */ tail: Query<unknown> | null = null;

  /** A copy of the queries listed now, in the order they were made (aborting one takes it out). */
  list(): Query<unknown>[] {
    const out: Query<unknown>[] = [];
    for (let q = this.head; q !== null; q = q.nextListed) out.push(q);
    return out;
  }
}

/**
 * The queries of one type flying now, by name as sent. A query that lands leaves a tombstone
 * rather than a Map delete: in a bulk run with thousands of distinct names, deletes made V8 rebuild
 * the Map's table over and over, and the peak heap grew by about 15 MiB per million lookups
 * (measured with bench:bulk). Tombstones are swept out when they outnumber the live entries
 * four to one (and are more than 1,024), so the sweep is amortized O(1) per query.
 *
 * @example
 * ```ts
 * const lane = new Lane();
 * lane.set('example.com', query);
 * lane.get('example.com'); // query, until it lands
 * lane.delete('example.com', query);
 * ```
 */
export class Lane {
  #map = new Map<string, Query<unknown> | null>();
  #dead = 0;

  /** The query flying for `name`, if any. */
  get(name: string): Query<unknown> | undefined {
    return this.#map.get(name) ?? undefined;
  }

  set(name: string, query: Query<unknown>): void {
    if (this.#map.get(name) === null) this.#dead--;
    this.#map.set(name, query);
  }

  /** Takes `query` out, if it is the one listed for `name`. */
  delete(name: string, query: Query<unknown>): void {
    const map = this.#map;
    if (map.get(name) !== query) return;
    map.set(name, null);
    if (++this.#dead > 1024 && this.#dead > 4 * (map.size - this.#dead)) {
      const live = new Map<string, Query<unknown> | null>();
      for (const [key, value] of map) if (value !== null) live.set(key, value);
      this.#map = live;
      this.#dead = 0;
    }
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
export type Lanes = Map<number, Lane>;

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
 *
 * With coalescing, the query that flies (the leader) carries the calls that ride on it. A caller
 * who gives up leaves at once, in O(1), and the question stays on the wire for those still
 * waiting: only when the last of them leaves does the flight stop.
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
  /** The call's promise has settled (or its caller gave up): nothing more is owed to it. */
  #settled = false;
  #registry: Registry | null = null;
  /** @internal Neighbours in the registry's list. */
  prevListed: Query<unknown> | null = null;
  /** @internal */
  nextListed: Query<unknown> | null = null;
  #signal: AbortSignal | undefined;
  #deadline: NodeJS.Timeout | undefined;
  /** When the deadline passes, in `performance.now()` ms (Infinity: none). */
  #deadlineAt = Number.POSITIVE_INFINITY;
  // Coalescing: a leader is listed in `#lane` under its name and carries a list of riders linked
  // through them (`#firstRider`..`#lastRider`); a rider waits on `#leader`. `#cfg`/`held` let a
  // rider fly in its leader's place.
  #lane: Lane | null = null;
  #firstRider: Query<unknown> | null = null;
  #lastRider: Query<unknown> | null = null;
  #prevRider: Query<unknown> | null = null;
  #nextRider: Query<unknown> | null = null;
  #leader: Query<unknown> | null = null;
  #cfg: DispatchConfig | null = null;

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
    self.prevListed = registry.tail;
    if (registry.tail === null) registry.head = self;
    else registry.tail.nextListed = self;
    registry.tail = self;
    if (signal !== undefined) {
      this.#signal = signal;
      signal.addEventListener('abort', this, { once: true });
    }
    if (deadlineMs !== undefined) {
      this.#deadlineAt = performance.now() + deadlineMs;
      this.#deadline = setTimeout(() => this.abort(undefined, codes.TIMEOUT), deadlineMs);
    }
    this.held = held;
    if (lanes !== undefined) {
      // Kept for a rider that may have to fly in its leader's place.
      this.#cfg = cfg;
      let lane = lanes.get(this.qtype);
      if (lane === undefined) {
        lane = new Lane();
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
    const self = this as Query<unknown>;
    this.#leader = leader;
    this.#prevRider = leader.#lastRider;
    this.#nextRider = null;
    if (leader.#lastRider === null) leader.#firstRider = self;
    else leader.#lastRider.#nextRider = self;
    leader.#lastRider = self;
  }

  /** A rider's caller gave up: it leaves its leader's list, and the flight ends if nobody is left. */
  #alight(error: DnsError): void {
    const leader = this.#leader!;
    const prev = this.#prevRider;
    const next = this.#nextRider;
    if (prev === null) leader.#firstRider = next;
    else prev.#nextRider = next;
    if (next === null) leader.#lastRider = prev;
    else next.#prevRider = prev;
    this.#leader = this.#prevRider = this.#nextRider = null;
    this.#fail(error);
    if (leader.#settled && leader.#firstRider === null) leader.#stop(error);
  }

  /** Nobody waits for the flight any more: stop it (no further try goes out). */
  #stop(error: DnsError): void {
    if (this.cancelled !== undefined) return;
    this.cancelled = error;
    this.interrupt?.(error);
  }

  /** Leaves the lane (later calls fly afresh) and takes the riders, as the exchange has ended. */
  #land(): Query<unknown> | null {
    const lane = this.#lane;
    if (lane !== null) {
      this.#lane = null;
      lane.delete(this.name, this as Query<unknown>);
    }
    const first = this.#firstRider;
    this.#firstRider = this.#lastRider = null;
    for (let r = first; r !== null; r = r.#nextRider) r.#leader = null;
    return first;
  }

  /** The signal's abort listener (the EventListener object protocol: no closure per query). */
  handleEvent(): void {
    this.abort(this.#signal?.reason);
  }

  /**
   * The caller gives up: the call rejects with `code` (ECANCELLED, or ETIMEOUT at the deadline).
   * Its query stops unless other calls ride on it: then it flies on for them.
   */
  abort(reason: unknown, code: DnsErrorCode = codes.CANCELLED): void {
    if (this.#settled) return;
    const error = new DnsError(code, { syscall: this.syscall, hostname: this.hostname, cause: reason });
    if (this.#leader !== null) {
      this.#alight(error);
    } else if (this.#firstRider !== null && this.#ownPermit()) {
      this.#fail(error);
    } else {
      this.#stop(error);
      // Settled here, not when the stop reaches the flight (a wait for a permit ends a turn
      // later): calls given up together reject in the order they were made.
      if (!this.#settled) this.#fail(error);
    }
  }

  check(): void {
    if (this.#settled) return;
    const signal = this.#signal;
    if (signal?.aborted) this.abort(signal.reason);
    else if (this.#deadlineAt <= performance.now()) this.abort(undefined, codes.TIMEOUT);
  }

  /**
   * Whether the flight can go on without this caller: it must then hold a permit of its own,
   * since one held for this caller (by a bulk run) goes back when this call settles.
   */
  #ownPermit(): boolean {
    if (!this.held) return true;
    if (!this.#cfg!.gate.tryAcquire()) return false;
    this.held = false;
    return true;
  }

  protected answered(message: DecodedPacket, server: ServerAddress): void {
    const riders = this.#land();
    if (!this.#settled) {
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
    }
    // Each rider makes its own result (fresh objects, its own errors) from the same answer.
    for (let r: Query<unknown> | null = riders; r !== null; ) {
      const next: Query<unknown> | null = r.#nextRider;
      r.#nextRider = r.#prevRider = null;
      r.answered(message, server);
      r = next;
    }
  }

  protected failed(error: unknown): void {
    const lane = this.#lane;
    const riders = this.#land();
    if (!this.#settled) this.#fail(error);
    if (riders === null) return;
    if (this.cancelled !== undefined) {
      // Stopped for its caller while riders wait (its bulk permit went back with it, and the gate
      // had none to spare): the first rider flies in its place, under a permit of its own.
      const next = riders;
      const rest = next.#nextRider;
      next.#nextRider = null;
      if (lane !== null && lane.get(next.name) === undefined) {
        lane.set(next.name, next);
        next.#lane = lane;
      }
      for (let r: Query<unknown> | null = rest; r !== null; ) {
        const after = r.#nextRider;
        r.#ride(next);
        r = after;
      }
      next.fly(next.#cfg!, next.held);
      return;
    }
    for (let r: Query<unknown> | null = riders; r !== null; ) {
      const next: Query<unknown> | null = r.#nextRider;
      r.#nextRider = r.#prevRider = null;
      r.failed(error instanceof DnsError ? r.#own(error) : error);
      r = next;
    }
  }

  #fail(error: unknown): void {
    this.#done();
    this.#reject(error);
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

  /** The call is settled: it leaves the registry, and its signal and deadline let go of it. */
  #done(): void {
    this.#settled = true;
    const registry = this.#registry;
    if (registry !== null) {
      this.#registry = null;
      const { prevListed: prev, nextListed: next } = this;
      if (prev === null) registry.head = next;
      else prev.nextListed = next;
      if (next === null) registry.tail = prev;
      else next.prevListed = prev;
      this.prevListed = this.nextListed = null;
    }
    this.#signal?.removeEventListener('abort', this);
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
  }
}
