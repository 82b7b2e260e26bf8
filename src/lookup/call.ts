// One call of a Resolver method, from its arguments to the one promise its caller holds. The
// wrappers around the try loop meet here: the registry (cancel()), the signal and the deadline
// (giving up), and coalescing (riding on a query in flight); each lives in its own module.

import { diagnostics } from '../diagnostics.js';
import type { DispatchConfig } from '../dispatch/config.js';
import { type Job, Tries, type TryOwner } from '../dispatch/try-loop.js';
import { codes, DnsError, type DnsErrorCode } from '../errors.js';
import type { DecodedPacket, RecordType } from '../wire/codec.js';
import { type CacheScope, keyOf } from './cache.js';
import { join, type Lanes, laneFor, leave, type Rider, takeRiders } from './coalesce.js';
import { Deadline } from './deadline.js';
import type { Listed, Registry } from './registry.js';

/** Turns the answer into the call's result; may throw a DnsError (NXDOMAIN, NODATA, ...). */
export type Finish<T> = (call: Call<T>, message: DecodedPacket, server: string) => T;

/**
 * What a kind of call asks and how it makes its result: made once per resolver method and record
 * type, not per call.
 *
 * @example
 * ```ts
 * const mx: Ask<MxRecord[]> = { type: 'MX', qtype: 15, syscall: 'queryMx', finish: toRecords, detail: toMx, coalesce: true };
 * ```
 */
export interface Ask<T> {
  readonly type: RecordType;
  /** `type`'s numeric code. */
  readonly qtype: number;
  /** Node's `syscall` in errors: `queryMx`, `getHostByAddr`, ... */
  readonly syscall: string;
  readonly finish: Finish<T>;
  /** Whatever `finish` needs besides the call (a record shape). */
  readonly detail: unknown;
  /** Whether the call may ride on a query in flight for the same question. */
  readonly coalesce: boolean;
}

/**
 * The tag of one bulk run's calls (its identity is all it is): the run aborts the calls that
 * carry it, and only those, when its caller leaves early or its signal aborts.
 *
 * @example
 * ```ts
 * const scope: RunScope = {};
 * call.scope = scope;
 * for (const c of registry.list()) if (c.scope === scope) c.abort(undefined);
 * ```
 */
export type RunScope = Record<string, never>;

/**
 * Where a resolver's calls start: its config, registry and lanes, and its deadline. One object per
 * resolver (made again when its servers change), so a call costs no object of this kind.
 */
export interface Launch {
  readonly cfg: DispatchConfig;
  readonly registry: Registry<Call<unknown>>;
  readonly deadlineMs: number | undefined;
  /** Present when calls may ride on a query in flight for the same question. */
  readonly lanes: Lanes<Call<unknown>> | undefined;
  /** Present when answers are cached. */
  readonly cache: CacheScope | undefined;
}

// A promise executor runs synchronously inside `new Promise`, so one shared executor can hand its
// resolvers out through these two slots: a call's promise then costs no closure.
let capturedResolve: (value: unknown) => void = () => {};
let capturedReject: (reason: unknown) => void = () => {};
function capture(resolve: (value: unknown) => void, reject: (reason: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * A call: the promise it settles exactly once, and how it is given up (by its signal, the
 * resolver's deadline, or `cancel()`). A call that flies its own query (a leader) owns the
 * query's {@link Tries}; others asking the same question ride on it. A caller who gives up leaves
 * at once, in O(1), and the question stays on the wire for those still waiting: only when the last
 * of them leaves does the query stop.
 */
export class Call<T> implements Job, TryOwner, Listed<Call<unknown>>, Rider<Call<unknown>> {
  readonly promise: Promise<T>;
  readonly name: string;
  readonly type: RecordType;
  readonly qtype: number;
  readonly syscall: string;
  readonly hostname: string;
  /** Whatever `finish` needs besides the call (a record shape). */
  readonly detail: unknown;
  /** The bulk run this call belongs to, if any. */
  scope: RunScope | undefined = undefined;
  prevListed: Call<unknown> | null = null;
  nextListed: Call<unknown> | null = null;
  leader: Call<unknown> | null = null;
  firstRider: Call<unknown> | null = null;
  lastRider: Call<unknown> | null = null;
  prevRider: Call<unknown> | null = null;
  nextRider: Call<unknown> | null = null;
  readonly #resolve: (value: T) => void;
  readonly #reject: (reason: unknown) => void;
  readonly #finish: Finish<T>;
  /** The call's promise has settled (or its caller gave up): nothing more is owed to it. */
  #settled = false;
  #launch: Launch | null = null;
  /** Whether a caller (a bulk run) holds a permit for this call, and gives it back itself. */
  #held = false;
  #signal: AbortSignal | undefined;
  /** Whether it may ride on a query in flight for the same question. */
  #coalesce = false;
  #deadline: Deadline | null = null;
  #startedAt = 0;
  /** The query this call flies (as a leader), until it ends. */
  #tries: Tries | null = null;
  /** Set once the query is stopped: nobody waits for it any more. */
  #stopped: DnsError | undefined;
  /** The question's key in the cache, when answers are cached. */
  #key: string | undefined;
  /** Answered from the cache at launch: never in the registry. */
  #unlisted = false;

  /** `name` as sent (lower case, checked); `hostname` as the caller gave it, for errors. */
  constructor(name: string, hostname: string, ask: Ask<T>) {
    this.name = name;
    this.type = ask.type;
    this.qtype = ask.qtype;
    this.syscall = ask.syscall;
    this.hostname = hostname;
    this.#finish = ask.finish;
    this.detail = ask.detail;
    this.#coalesce = ask.coalesce;
    this.promise = new Promise<T>(
      capture as (resolve: (value: T) => void, reject: (reason: unknown) => void) => void,
    );
    this.#resolve = capturedResolve;
    this.#reject = capturedReject;
  }

  /**
   * Starts the call: listed for `cancel()` until it settles, given up by its signal or deadline,
   * riding on a query in flight for the same question if there is one (with `lanes`), and
   * otherwise flying its own.
   */
  launch(launch: Launch, held: boolean, signal: AbortSignal | undefined): Promise<T> {
    this.#launch = launch;
    this.#held = held;
    const runtime = launch.cfg.runtime;
    const cache = launch.cache;
    if (cache !== undefined) {
      // The cache comes first: a hit sends nothing, takes no permit, and rides on nothing.
      const key = keyOf(cache.set, this.qtype, this.name);
      const hit = cache.store.get(key, runtime.clock.now());
      if (hit !== undefined) {
        if (diagnostics.cacheHit.hasSubscribers) {
          const { negative, ttl } = hit;
          diagnostics.cacheHit.publish({ name: this.name, type: this.type, negative, ttl });
        }
        // A result made afresh from the kept answer, as from the wire; the call was never listed.
        this.#unlisted = true;
        this.#answer(hit.message, hit.server);
        return this.promise;
      }
      this.#key = key;
      if (diagnostics.cacheMiss.hasSubscribers)
        diagnostics.cacheMiss.publish({ name: this.name, type: this.type });
    }
    const self = this as Call<unknown>;
    launch.registry.add(self);
    if (diagnostics.queryEnd.hasSubscribers) this.#startedAt = runtime.clock.now();
    if (signal !== undefined) {
      this.#signal = signal;
      signal.addEventListener('abort', this, { once: true });
    }
    if (launch.deadlineMs !== undefined) this.#deadline = new Deadline(this, runtime, launch.deadlineMs);
    const lanes = this.#coalesce ? launch.lanes : undefined;
    if (lanes !== undefined) {
      const lane = laneFor(lanes, this.qtype);
      const leader = lane.get(this.name);
      if (leader !== undefined) {
        // The question is on the wire already: no socket, no permit beyond one `held` already.
        join(leader, self);
        return this.promise;
      }
      lane.set(this.name, self);
    }
    this.#fly(held);
    return this.promise;
  }

  #fly(held: boolean): void {
    const tries = new Tries(this.#launch!.cfg, this, this, held);
    this.#tries = tries;
    // A subscriber that gives up on the call stops the loop before it starts (start() is then a no-op).
    if (diagnostics.queryStart.hasSubscribers)
      diagnostics.queryStart.publish({ name: this.name, type: this.type });
    tries.start();
  }

  /** The signal's abort listener (the EventListener object protocol: no closure per call). */
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
    const leader = this.leader;
    if (leader !== null) {
      leave(this as Call<unknown>);
      this.#fail(error);
      // The last rider of a leader whose own caller left: nobody waits any more.
      if (leader.#settled && leader.firstRider === null) leader.#stop(error);
    } else if (this.firstRider !== null && (this.#tries === null || this.#tries.adopt())) {
      // Others ride on this query, which can go on under a permit of its own.
      this.#fail(error);
    } else {
      // Settled first, so calls given up together reject in the order they were made.
      this.#fail(error);
      this.#stop(error);
    }
  }

  check(): void {
    if (this.#settled) return;
    const signal = this.#signal;
    if (signal?.aborted) this.abort(signal.reason);
    else if (this.#deadline?.passed) this.abort(undefined, codes.TIMEOUT);
  }

  /** Nobody waits for the query any more: stop it (no further try goes out). */
  #stop(error: DnsError): void {
    if (this.#stopped !== undefined) return;
    this.#stopped = error;
    this.#tries?.stop(error);
  }

  /** Leaves the lane (later calls fly afresh) and takes the riders, as the query has ended. */
  #land(): Call<unknown> | null {
    this.#tries = null;
    const lanes = this.#coalesce ? this.#launch!.lanes : undefined;
    if (lanes !== undefined) lanes.get(this.qtype)?.delete(this.name, this as Call<unknown>);
    return takeRiders(this as Call<unknown>);
  }

  landed(message: DecodedPacket, server: string): void {
    const key = this.#key;
    if (key !== undefined) {
      const launch = this.#launch!;
      launch.cache!.store.keep(key, this.qtype, message, server, launch.cfg.runtime.clock.now());
    }
    const riders = this.#land();
    this.#answer(message, server);
    // Each rider makes its own result (fresh objects, its own errors) from the same answer.
    for (let r: Call<unknown> | null = riders; r !== null; ) {
      const next: Call<unknown> | null = r.nextRider;
      r.nextRider = r.prevRider = null;
      r.#answer(message, server);
      r = next;
    }
  }

  failed(error: unknown): void {
    const riders = this.#land();
    this.#fail(error);
    if (riders === null) return;
    if (this.#stopped !== undefined) {
      // Stopped for its caller while riders wait (its bulk permit went back with it, and the gate
      // had none to spare): the first rider flies in its place, under a permit of its own.
      const first = riders;
      const rest = first.nextRider;
      first.nextRider = null;
      const lanes = first.#coalesce ? first.#launch!.lanes : undefined;
      if (lanes !== undefined) {
        const lane = laneFor(lanes, first.qtype);
        if (lane.get(first.name) === undefined) lane.set(first.name, first);
      }
      for (let r: Call<unknown> | null = rest; r !== null; ) {
        const after = r.nextRider;
        join(first, r);
        r = after;
      }
      first.#fly(first.#held);
      return;
    }
    for (let r: Call<unknown> | null = riders; r !== null; ) {
      const next: Call<unknown> | null = r.nextRider;
      r.nextRider = r.prevRider = null;
      r.#fail(error instanceof DnsError ? r.#own(error) : error);
      r = next;
    }
  }

  #answer(message: DecodedPacket, server: string): void {
    // Settled already (given up meanwhile, perhaps by a diagnostics subscriber): nothing is owed.
    if (this.#settled) return;
    let value: T;
    try {
      value = this.#finish(this, message, server);
    } catch (err) {
      this.#fail(err);
      return;
    }
    this.#done(true, undefined);
    this.#resolve(value);
  }

  #fail(error: unknown): void {
    if (this.#settled) return;
    this.#done(false, error);
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
  #done(ok: boolean, error: unknown): void {
    this.#settled = true;
    const launch = this.#launch!;
    if (!this.#unlisted) launch.registry.remove(this as Call<unknown>);
    this.#signal?.removeEventListener('abort', this);
    this.#deadline?.clear();
    if (diagnostics.queryEnd.hasSubscribers) {
      diagnostics.queryEnd.publish({
        name: this.name,
        type: this.type,
        ok,
        ...(ok ? {} : { code: (error as { code?: unknown } | null)?.code }),
        // Measured from the start when someone listened then.
        ms: this.#startedAt === 0 ? 0 : launch.cfg.runtime.clock.now() - this.#startedAt,
      });
    }
  }
}
