// One budget of queries in flight across many processes and machines, kept in Redis. Each process
// leases a batch of permits (sized by its demand) with an expiry, renews it in the background, and
// hands the permits out locally at in-process speed: Redis sees a call every few hundred ms per
// process, not one per query.
import { randomBytes } from 'node:crypto';
import { rangeError, typeError, valueError } from '../errors.js';
import { TAKES_WAIT_CANCEL } from '../gate/cancel.js';
import type { Settled } from '../gate/semaphore.js';
import { settleEach } from '../gate/settle.js';
import { type Clock, type ClockTimer, realRuntime } from '../runtime.js';
import { LEASE_SCRIPT } from './lease.js';

/**
 * Options of {@link createRedisGate}.
 *
 * @example
 * ```ts
 * const options: RedisGateOptions = { url: 'redis://127.0.0.1:6379', key: 'dns:home-router', limit: 20 };
 * ```
 */
export interface RedisGateOptions {
  /** `redis://[[user]:password@]host[:port][/db]` (or `rediss://`). */
  url: string;
  /** The budget's name: every process that uses the same Redis and key shares one `limit`. */
  key: string;
  /** Queries in flight at most, across every process (an integer from 1). */
  limit: number;
  /** Queries started per second at most, across every process (split evenly among those busy); none by default. */
  rate?: number;
  /**
   * How long a lease lasts without renewal, ms (default 3,000): a process killed gives its permits
   * back after this long, and one that cannot reach Redis keeps them this long at most.
   */
  leaseMs?: number;
  /**
   * While Redis is unreachable and the lease has run out: `'share'` (default) waits one lease more,
   * then goes on with a safe
   * share, the limit divided by the most processes seen (rounded down); `'wait'` starts nothing until Redis is back
   * (a strict budget).
   */
  whenUnreachable?: 'share' | 'wait';
  /** How long to wait for Redis at {@link createRedisGate}, ms (default 2,000). */
  connectTimeoutMs?: number;
  /** The clock (local lease expiry, renewals), for tests; default `performance.now()`. */
  clock?: Clock;
}

/**
 * What a {@link RedisGate} knows now.
 *
 * @example
 * ```ts
 * const { leased, inFlight, processes, reachable } = gate.view;
 * ```
 */
export interface RedisGateView {
  /** This process's field in the budget's hash (random, one per gate). */
  id: string;
  /** Permits this process may hold now (its lease, or its safe share while Redis is away). */
  leased: number;
  /** Permits this process holds now (queries in flight). */
  inFlight: number;
  /** Callers waiting here for a permit. */
  waiting: number;
  /** Processes that wanted permits at the last renewal, this one included. */
  processes: number;
  /** Whether the lease is current (renewed within `leaseMs`, by this process's clock). */
  current: boolean;
  /** Whether the last call to Redis succeeded. */
  reachable: boolean;
  /** Calls made to Redis so far. */
  calls: number;
  /** The last error from Redis, naming the URL and what failed; undefined once a call succeeds. */
  lastError: Error | undefined;
}

/**
 * The budget's channel, on a second connection: the lease script publishes there the permits it
 * handed to processes short of their share, and the fair level when one is short while another
 * holds past its share (see LEASE_SCRIPT). Optional: without it (or while it is down) the renewals
 * and polls still get there.
 */
interface Nudges {
  subscribe(channel: string): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'error', listener: () => void): unknown;
  disconnect(): void;
}

/** How the lease call is made: ioredis with the script defined as a command. */
interface LeaseClient {
  dnsgateLease(
    key: string,
    ...args: Array<string | number>
  ): Promise<[number, number, number, number, number, number, string]>;
  disconnect(): void;
  /** 'error' with the error; 'ready' (connected, again after a reconnect) with none. */
  on(event: 'error' | 'ready', listener: (err: Error) => void): unknown;
}

const ONCE = { once: true } as const;

/** Renewals per lease: a lease is renewed when a third of it has passed. */
const RENEWALS = 3;
/**
 * A process below its fair share (others still hold more than theirs, or are giving them back)
 * asks again this soon, ms; then, while its grant does not grow, after half the time it has waited
 * (at most a quarter of the renewal period): the holders give back only once a call of theirs
 * has told them, at their next renewal at the latest.
 */
const STARVED_MS = 25;
/** One whose grant just grew asks again this soon, ms: others may be arriving at the same time. */
const GREW_MS = 10;
/** The other calls a process makes between renewals come at most this often, ms. */
const CALL_GAP_MS = 50;
/**
 * A process that wants more than it holds asks again after this many queries (and CALL_GAP_MS):
 * permits another process gave back reach it soon, at about one call per this many queries.
 */
const CALL_EVERY = 400;
/** Taken off the local expiry: clocks drift, and the call took some time to arrive. */
const MARGIN_MS = 10;

/** A queued acquire; its own abort listener (the EventListener object protocol: no closure). */
class Waiter {
  queued = true;
  constructor(
    /** Told when it leaves the queue by abort (it stays there as a tombstone). */
    readonly onAbort: () => void,
    readonly resolve: () => void,
    readonly reject: (reason: unknown) => void,
    readonly signal: AbortSignal | undefined,
  ) {}

  handleEvent(): void {
    if (!this.queued) return;
    this.queued = false;
    this.onAbort();
    this.reject(this.signal!.reason);
  }
}

/**
 * The cluster-wide gate: pass it to `new Resolver({ semaphore: gate })` (every resolver and
 * `resolveEach` on it then share the budget), or use {@link RedisGate.run} and
 * {@link RedisGate.map} as a Semaphore's. Made by {@link createRedisGate}; `close()` it when done.
 *
 * @example
 * ```ts
 * const gate = await createRedisGate({ url: 'redis://127.0.0.1:6379', key: 'dns', limit: 20 });
 * const resolver = new Resolver({ servers: ['127.0.0.1:53'], semaphore: gate });
 * try { console.log(await resolver.resolveMx('example.com')); } finally { await gate.close(); }
 * ```
 */
export class RedisGate {
  /** The budget across every process (the ceiling of each process's share). */
  readonly limit: number;
  /** The budget's rate across every process, if set. */
  readonly rate: number | undefined;
  readonly url: string;
  readonly key: string;
  readonly leaseMs: number;
  readonly #client: LeaseClient;
  readonly #id = randomBytes(8).toString('hex');
  readonly #clock: Clock;
  readonly #strict: boolean;
  #granted = 0;
  /** What Redis records this process as holding: the grant, or more while queries drain. */
  #recorded = 0;
  /** This process's fair share at the last call: asking again helps only while below it. */
  #fair = 0;
  /** What the last call asked for. */
  #asked = 0;
  /** Permits given back since the last call. */
  #sinceCall = 0;
  /** Another process held less than its share at the last call: renew soon to give back. */
  #contended = false;
  /** Local time the lease runs out (by this process's monotonic clock). */
  #until = -1;
  #held = 0;
  #processes = 1;
  /** The most processes seen wanting permits: the safe share divides by it. */
  #mostProcesses = 1;
  #reachable = true;
  #lastError: Error | undefined;
  #calls = 0;
  /** When the last call was sent. */
  #calledAt = Number.NEGATIVE_INFINITY;
  /**
   * Connections to Redis made so far, and the one on which a call last read Redis's uptime. A
   * Redis that restarted closed every connection: the first call on a new one has the script read
   * the uptime, so that a restart which loaded recent state (its later calls lost) still turns the
   * guard on.
   */
  #connection = 1;
  #checkedOn = 0;
  /** The last call raised the grant: look again soon, others may be arriving. */
  #grew = false;
  /** Since when it has been below its fair share with its grant not growing (local time). */
  #starvedSince: number | undefined;
  /** A call is in flight, or the last one failed: hold to what it said was held. */
  #capped = false;
  #sentHeld = 0;
  /** When the first call failed while the lease was current (the safe share needs that). */
  #downSince: number | undefined;
  /** Redis said it is young (its guard is on): asking often brings nothing. */
  #booting = false;
  #calling = false;
  /** Redis's time (µs) at the last call answered: a message from before it is no news. */
  #stamp = 0;
  /** Messages that came while a call was in flight, read once its reply is in. */
  #later: string[] = [];
  /** A call is due as soon as the one in flight returns. */
  #again = false;
  #closed = false;
  #timer: ClockTimer | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #queue: Waiter[] = [];
  #head = 0;
  /** Rate: when the next start is due (GCRA), and the interval at this process's share. */
  #nextStart = 0;
  #interval = 0;
  #nudges: Nudges | undefined;

  /** @internal Use {@link createRedisGate}. */
  constructor(
    client: LeaseClient,
    options: Required<Pick<RedisGateOptions, 'url' | 'key' | 'limit'>> & RedisGateOptions,
    nudges?: Nudges,
  ) {
    this.#client = client;
    this.#nudges = nudges;
    nudges?.on('message', (_channel, message) => this.#nudged(message));
    client.on('ready', () => {
      this.#connection++;
    });
    this.url = options.url;
    this.key = options.key;
    this.limit = options.limit;
    this.rate = options.rate;
    // Alone until a call says otherwise (no query starts before one has: it needs a permit).
    if (this.rate !== undefined) this.#interval = 1000 / this.rate;
    this.leaseMs = options.leaseMs ?? 3000;
    this.#strict = options.whenUnreachable === 'wait';
    this.#clock = options.clock ?? realRuntime.clock;
  }

  /** Permits free under the lease now. */
  get tokens(): number {
    return Math.max(0, this.#allowed() - this.#held);
  }

  /** Callers waiting for a permit here. */
  get waiting(): number {
    return this.#queue.length - this.#head - this.#aborted;
  }

  get view(): RedisGateView {
    return {
      id: this.#id,
      leased: this.#allowed(),
      inFlight: this.#held,
      waiting: this.waiting,
      processes: this.#processes,
      current: this.#current(),
      reachable: this.#reachable,
      calls: this.#calls,
      lastError: this.#lastError,
    };
  }

  /**
   * Whether every permit held now is still covered (the lease is current, or the safe share
   * covers them): a query whose permit is no longer covered gives it back and waits for one before
   * it sends again (a process paused past its lease must not send on permits others now hold).
   */
  covers(): boolean {
    return this.#held <= this.#allowed();
  }

  /**
   * True once the lease ran out by this process's clock with more permits held than a safe share
   * covers (it was paused past its lease, say): Redis may have dropped its record, so the permits
   * may be someone else's, and a datagram still waiting to go out is kept in. A share that shrank
   * while the lease is current is no lapse: Redis keeps what is held recorded until it comes back.
   */
  lapsed(): boolean {
    return !this.#current() && this.#held > this.#allowed();
  }

  /** Takes a permit now if one is free under the lease and nobody waits. */
  tryAcquire(): boolean {
    if (this.waiting > 0 || !this.#mayStart()) {
      this.#demand();
      return false;
    }
    this.#held++;
    return true;
  }

  /** Resolves once a permit is held; the caller must {@link release} it. */
  acquire(options?: { signal?: AbortSignal }): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = new Waiter(this.#onAbort, resolve, reject, signal);
      if (signal !== undefined) signal.addEventListener('abort', waiter, ONCE);
      this.#queue.push(waiter);
      this.#demand();
    });
  }

  /** An aborted waiter stays in the queue as a tombstone (O(1)); #drain skips it. */
  readonly #onAbort = (): void => {
    this.#aborted++;
  };
  #aborted = 0;

  /** dnsgate's try loop may give up its waits here through a WaitCancel (see gate/cancel.ts). */
  readonly [TAKES_WAIT_CANCEL] = true;

  /** Gives a permit back. */
  release(): void {
    if (this.#held === 0) throw new Error('release() called with no permit held');
    this.#held--;
    this.#drain();
    // Give permits back rather than at the next renewal when someone can use them: at once when
    // its share shrank while more were in flight and it is down to it, soon when it needs fewer
    // (see #giveBack).
    this.#sinceCall++;
    if (this.#recorded > this.#granted && this.#held <= this.#granted) {
      this.#recorded = this.#granted;
      this.#call();
    } else if (
      !this.#giveBack() &&
      this.#asked > this.#granted &&
      this.#nudges === undefined &&
      this.#sinceCall >= CALL_EVERY &&
      this.#clock.now() - this.#calledAt >= CALL_GAP_MS
    ) {
      // It wants more than it was granted: permits may have come free (another process finished).
      this.#call();
    }
  }

  /**
   * Takes a permit, runs `fn(...args)`, gives the permit back when its result settles.
   *
   * @example
   * ```ts
   * const mx = await gate.run((n: string) => resolver.resolveMx(n), 'example.com');
   * ```
   */
  async run<A extends unknown[], R>(fn: (...args: A) => R | PromiseLike<R>, ...args: A): Promise<Awaited<R>> {
    await this.acquire();
    try {
      return await fn(...args);
    } finally {
      this.release();
    }
  }

  /**
   * Maps `fn` over `things` under the cluster budget, as `semMap` does under the shared semaphore
   * (the same engine, lazy: the next thing is pulled only when a permit is free): `[true, value]`
   * or `[false, error]` per thing, in order.
   *
   * @example
   * ```ts
   * const results = await gate.map((n: string) => resolver.resolveMx(n), ['a.example', 'b.example']);
   * ```
   */
  async map<T, R>(
    fn: (item: T) => R | PromiseLike<R>,
    things: Iterable<T> | AsyncIterable<T>,
  ): Promise<Settled<Awaited<R>>[]> {
    const results: Settled<Awaited<R>>[] = [];
    for await (const r of settleEach(this, (item: T) => fn(item), things)) {
      results[r.index] = r.ok ? [true, r.value as Awaited<R>] : [false, r.error];
    }
    return results;
  }

  /**
   * For the query path's pace: ms to wait before this start (the budget's rate, this process's
   * share of it); 0 without a rate.
   */
  reserve(): number {
    if (this.rate === undefined) return 0;
    const now = this.#clock.now();
    const at = Math.max(this.#nextStart, now);
    this.#nextStart = at + this.#interval;
    return at - now;
  }

  /**
   * Gives the lease back (the permits are free for the others at once), stops renewing, and
   * closes both connections. Callers still waiting are rejected.
   *
   * @example
   * ```ts
   * await gate.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimer();
    const error = this.#closedError();
    for (let i = this.#head; i < this.#queue.length; i++) {
      const waiter = this.#queue[i]!;
      if (!waiter.queued) continue;
      waiter.queued = false;
      if (waiter.signal !== undefined) waiter.signal.removeEventListener('abort', waiter);
      waiter.reject(error);
    }
    this.#queue = [];
    this.#head = 0;
    this.#aborted = 0;
    try {
      // What is still in flight (queries lingering after their callers left) stays recorded
      // until their lease runs out.
      await this.#client.dnsgateLease(this.key, this.#id, 0, this.#held, this.limit, this.leaseMs);
    } catch {
      // Unreachable: the lease runs out by itself.
    }
    this.#nudges?.disconnect();
    // The last call was answered: nothing is pending, and QUIT would be one more command.
    this.#client.disconnect();
  }

  /**
   * A message on the budget's channel: "<Redis time, µs> <fair level> <live leases> <processes
   * wanting> [<process>:<permits>]...",
   * from a call made after this one's last (older ones are no news). Permits handed to this
   * process are its to use until its own lease runs out (the script recorded them in its field).
   * Holding past the level, it stops starting queries beyond it and calls once it is down to it:
   * that call gives the rest back (and hands them on).
   */
  #nudged(message: string): void {
    if (this.#closed) return;
    const parts = message.split(' ');
    const stamp = Number(parts[0]);
    if (!(stamp > this.#stamp)) return;
    // A call in flight may be answered before or after that one: read it once the reply is in.
    if (this.#calling) {
      this.#later.push(message);
      return;
    }
    const level = Number(parts[1]);
    if (level > 0) this.#fair = level;
    // Every process counts the others as they join: its rate share, and its safe share while Redis
    // is away.
    const live = Number(parts[2]);
    const wanting = Number(parts[3]);
    if (live > this.#mostProcesses) this.#mostProcesses = live;
    if (wanting > 0) {
      this.#processes = wanting;
      if (this.rate !== undefined) this.#interval = (1000 * wanting) / this.rate;
    }
    const mine = `${this.#id}:`;
    for (let i = 4; i < parts.length; i++) {
      if (!parts[i]!.startsWith(mine)) continue;
      const permits = Number(parts[i]!.slice(mine.length));
      if (permits > this.#granted) {
        this.#granted = permits;
        this.#recorded = Math.max(this.#recorded, permits);
        this.#drain();
        // No longer short, it need not ask soon: the next call is the renewal (unless one is due
        // now: it asked for more since).
        if (!this.#again && this.#timerAt > this.#clock.now()) this.#schedule();
      }
      return;
    }
    if (!(level > 0) || this.#granted <= level) return;
    this.#granted = level;
    if (this.#recorded > this.#granted && this.#held <= this.#granted) {
      this.#recorded = this.#granted;
      this.#call();
    }
  }

  /**
   * The first call (createRedisGate waits for it): the script runs (loaded, and allowed to), and
   * reads and writes nothing. The first call that wants a permit joins the budget.
   */
  async start(): Promise<void> {
    this.#calls++;
    try {
      await this.#client.dnsgateLease(this.key, this.#id, -1, 0, this.limit, this.leaseMs, 0);
    } catch (err) {
      throw new Error(
        `dnsgate/redis ${redact(this.url)}: the lease script failed: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  #current(): boolean {
    return this.#clock.now() < this.#until;
  }

  /** Permits this process may hold now. */
  #allowed(): number {
    if (this.#current()) {
      // A call in flight (or one that failed, and may still have run) records this process as
      // holding what it sent: no more than that until a reply says what it may hold.
      return this.#capped ? Math.min(this.#granted, this.#sentHeld) : this.#granted;
    }
    if (this.#reachable || this.#strict || this.#downSince === undefined) return 0;
    // Redis is away and the lease ran out: wait one lease more (Redis may be restarting, and the
    // processes that reach it first are held to what they hold for two leases), then a share that
    // cannot overshoot if every process seen does the same. Only for a process that held a current
    // lease when Redis went away: one idle then has nothing to fall back to.
    if (this.#clock.now() < Math.max(this.#until, this.#downSince + this.leaseMs) + this.leaseMs) return 0;
    return Math.floor(this.limit / this.#mostProcesses);
  }

  #mayStart(): boolean {
    return !this.#closed && this.#held < this.#allowed();
  }

  #drain(): void {
    while (this.#head < this.#queue.length && this.#mayStart()) {
      const waiter = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as Waiter;
      if (!waiter.queued) {
        this.#aborted--;
        continue;
      }
      waiter.queued = false;
      if (waiter.signal !== undefined) waiter.signal.removeEventListener('abort', waiter);
      this.#held++;
      waiter.resolve();
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * Someone wants a permit and none is free: ask now if the lease ran out, or if it wants more
   * than it last asked for (there may be permits free). Having asked for as much and got less,
   * it waits for the renewals (sooner while below its fair share): asking again would not help.
   */
  #demand(): void {
    if (this.#closed) return;
    const want = Math.min(this.limit, this.#held + this.waiting + 1);
    if (this.#calling) {
      // Asked for less than it wants now: ask again once this call returns.
      if (want > this.#asked) this.#again = true;
      return;
    }
    if (this.#current() && (this.#granted >= want || this.#asked >= want)) return;
    this.#arm(0);
  }

  #call(): void {
    if (this.#closed) return;
    if (this.#calling) {
      this.#again = true;
      return;
    }
    void this.#lease().finally(() => {
      this.#schedule();
      // Messages that came during the call, read after its reply (and after the next call is set:
      // one of them may start it now).
      const later = this.#later;
      this.#later = [];
      for (const message of later) this.#nudged(message);
    });
  }

  async #lease(): Promise<void> {
    this.#calling = true;
    this.#capped = true;
    this.#sentHeld = this.#held;
    const sentAt = this.#clock.now();
    this.#calledAt = sentAt;
    const want = Math.min(this.limit, this.#held + this.waiting);
    this.#asked = want;
    this.#sinceCall = 0;
    this.#calls++;
    const connection = this.#connection;
    const check = this.#checkedOn === connection ? 0 : 1;
    try {
      const held = this.#held;
      const [granted, processes, booting, fair, contended, live, stamp] = await this.#client.dnsgateLease(
        this.key,
        this.#id,
        want,
        held,
        this.limit,
        this.leaseMs,
        check,
        // Back from Redis being away (it may be on its safe share, and so may others).
        this.#downSince === undefined ? 0 : 1,
      );
      // A process leaving (wanting and holding nothing) only has its field deleted: the script
      // reads nothing then, Redis's uptime included.
      const leaving = want === 0 && held === 0;
      if (check === 1 && !leaving) this.#checkedOn = connection;
      if (Number(stamp) > this.#stamp) this.#stamp = Number(stamp);
      this.#grew = Number(granted) > this.#granted;
      this.#granted = Number(granted);
      this.#recorded = Math.max(this.#granted, held);
      this.#fair = Number(fair);
      this.#contended = Number(contended) === 1;
      if (!leaving) this.#processes = Math.max(1, Number(processes));
      // Every process with a live lease (busy or not) may take a safe share while Redis is away.
      this.#mostProcesses = Math.max(this.#mostProcesses, Number(live));
      // Leaving leaves no lease: a hand-out that comes late names a field that is gone.
      this.#until = leaving ? -1 : sentAt + this.leaseMs - MARGIN_MS;
      this.#reachable = true;
      this.#capped = false;
      this.#downSince = undefined;
      if (!leaving) this.#booting = Number(booting) === 1;
      this.#lastError = undefined;
      if (this.rate !== undefined) this.#interval = (1000 * this.#processes) / this.rate;
    } catch (err) {
      // Still capped: the call may have run in Redis after all.
      // (The lease was current when the call went: a renewal put off to the last third fails as it
      // runs out.)
      if (this.#downSince === undefined && sentAt < this.#until) this.#downSince = sentAt;
      this.#reachable = false;
      this.#grew = false;
      this.#contended = false;
      this.#lastError = new Error(
        `dnsgate/redis ${redact(this.url)}: renewing the lease of "${this.key}" failed: ${(err as Error).message}`,
        { cause: err },
      );
      if (this.rate !== undefined && !this.#current()) this.#interval = (1000 * this.#processes) / this.rate;
    } finally {
      this.#calling = false;
    }
    this.#drain();
  }

  /** The next call: now if one was asked for, sooner while starved, else at the next renewal. */
  #schedule(): void {
    if (this.#closed) return;
    if (this.#again) {
      this.#again = false;
      this.#arm(0);
      return;
    }
    // What was due before that call is answered by it: the next call is worked out afresh.
    this.#clearTimer();
    const idle = this.#held === 0 && this.waiting === 0;
    if (idle && this.#reachable) {
      this.#giveBack();
      return;
    }
    if (idle && this.#granted === 0) return;
    this.#giveBack();
    // Below its fair share (others still hold more than theirs, or their permits are draining):
    // asking again soon helps. At its share, the next renewal is soon enough.
    // Holding past its share while another waits: soon too.
    const starved = this.waiting > 0 && this.#granted < this.#fair;
    if (this.#grew && !starved && !this.#booting && this.#nudges === undefined) {
      this.#arm(GREW_MS);
      return;
    }
    // A young Redis grants nothing new until its guard ends: no point asking often.
    const soon = !this.#booting && (starved || (this.#contended && this.#held > this.#fair));
    const renewIn = this.#reachable ? this.leaseMs / RENEWALS : Math.min(this.leaseMs / RENEWALS, 250);
    const now = this.#clock.now();
    if (!starved || this.#grew) this.#starvedSince = undefined;
    else this.#starvedSince ??= now;
    // Starved a while: the holders have not been told yet, or their queries drain slowly.
    const waited = this.#starvedSince === undefined ? 0 : now - this.#starvedSince;
    // Told by the channel when permits come free, it need not ask often.
    const soonIn =
      this.#nudges === undefined ? Math.max(STARVED_MS, Math.min(waited / 2, renewIn / 4)) : renewIn / 4;
    // Renewals count from the last call (permits handed over by message reschedule it).
    if (soon) this.#arm(Math.min(soonIn, renewIn));
    else this.#arm(Math.max(0, this.#calledAt + renewIn - now), this.#reachable);
    // When the lease runs out with nothing renewed, waiters may fall to the safe share.
    if (!this.#reachable) this.#drain();
  }

  /**
   * Permits (or a recorded want) this process does not need go back soon: 50 ms after it went
   * idle, unless demand comes back first (a caller that awaits one query at a time would otherwise
   * cost a call per query); as long after another is short while it needs fewer than it was
   * granted (or at close(), if it is done by then: a job's last queries need not cost a call of
   * their own). Whether one is due.
   */
  #giveBack(): boolean {
    const demand = this.#held + this.waiting;
    const idle = demand === 0 && (this.#granted > 0 || this.#asked > 0);
    if (!idle && !(this.#contended && demand < this.#granted)) return false;
    this.#arm(CALL_GAP_MS);
    return true;
  }

  /** A call in `ms` (unless one is due sooner); `renewal`: one that may be put off (see there). */
  #arm(ms: number, renewal = false): void {
    const at = this.#clock.now() + ms;
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    this.#clearTimer();
    this.#timerAt = at;
    const timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      if (renewal && this.#putOff()) return;
      this.#call();
    }, ms);
    // Renewals keep a busy process's lease; they must not keep an idle process alive.
    timer.unref?.();
    this.#timer = timer;
  }

  /**
   * A renewal at the first third of the lease is put off to its last third when a backlog waits
   * here (at least twice its grant) that will be done, at the pace since the last call, with half
   * the lease still left: a short job then costs no renewal (it gives its lease back when done).
   * A caller that feeds queries as permits come free (resolveEach) shows no backlog, nothing of
   * what comes next: it renews on time. At the last third it renews whatever the pace; if that
   * renewal fails (a call times out after a third of a lease), the lease runs out and the process
   * falls back as when Redis is away (its queries wait until a call gets through, or for the safe
   * share).
   */
  #putOff(): boolean {
    const now = this.#clock.now();
    const last = this.#until - this.leaseMs / RENEWALS;
    if (this.#sinceCall === 0 || last - now < 1 || this.waiting < 2 * this.#granted) return false;
    const msPerQuery = (now - this.#calledAt) / this.#sinceCall;
    if ((this.#held + this.waiting) * msPerQuery > (this.#until - now) / 2) return false;
    this.#arm(last - now);
    return true;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #closedError(): Error {
    return new Error(`dnsgate/redis ${redact(this.url)}: the gate for "${this.key}" is closed`);
  }
}

/** The URL without its password. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

function checkOptions(options: RedisGateOptions): void {
  if (typeof options !== 'object' || options === null) throw typeError('Expected options to be an object');
  const { url, key, limit, rate, leaseMs, whenUnreachable, connectTimeoutMs } = options;
  if (typeof url !== 'string')
    throw typeError('Expected `url` to be a string such as "redis://127.0.0.1:6379"');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw valueError(`Expected \`url\` to be a redis:// URL, got ${JSON.stringify(redact(url))}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw valueError(
      `Expected \`url\` to be a redis:// or rediss:// URL, got ${JSON.stringify(redact(url))}`,
    );
  }
  if (typeof key !== 'string' || key === '') throw typeError('Expected `key` to be a non-empty string');
  if (!Number.isInteger(limit) || limit < 1)
    throw rangeError(`Expected \`limit\` to be an integer >= 1, got ${String(limit)}`);
  if (rate !== undefined && !(typeof rate === 'number' && rate > 0 && Number.isFinite(rate))) {
    throw rangeError(`Expected \`rate\` to be a number > 0, got ${String(rate)}`);
  }
  if (leaseMs !== undefined && !(Number.isInteger(leaseMs) && leaseMs >= 100 && leaseMs <= 600_000)) {
    throw rangeError(`Expected \`leaseMs\` to be an integer from 100 to 600000, got ${String(leaseMs)}`);
  }
  if (whenUnreachable !== undefined && whenUnreachable !== 'share' && whenUnreachable !== 'wait') {
    throw valueError(
      `Expected \`whenUnreachable\` to be 'share' or 'wait', got ${JSON.stringify(whenUnreachable)}`,
    );
  }
  if (connectTimeoutMs !== undefined && !(Number.isInteger(connectTimeoutMs) && connectTimeoutMs > 0)) {
    throw rangeError(`Expected \`connectTimeoutMs\` to be an integer > 0, got ${String(connectTimeoutMs)}`);
  }
}

/**
 * Connects to Redis and joins the budget `key`: across every process that uses the same Redis and
 * key, queries in flight never exceed `limit`. Needs the `ioredis` package (an optional peer
 * dependency). Two connections: one for the lease calls, one subscribed to the budget's channel
 * (`key + '#'`), where the lease script hands permits on and tells holders to give back. Rejects, naming the
 * URL, if Redis cannot be reached or the URL is not one.
 *
 * @example
 * ```ts
 * import { Resolver } from 'dnsgate';
 * import { createRedisGate } from 'dnsgate/redis';
 * const gate = await createRedisGate({ url: 'redis://127.0.0.1:6379', key: 'dns:home-router', limit: 20 });
 * const resolver = new Resolver({ servers: ['192.168.1.1'], semaphore: gate });
 * for await (const r of resolver.resolveEach(['a.example', 'b.example'], 'MX')) console.log(r);
 * await gate.close();
 * ```
 */
export async function createRedisGate(options: RedisGateOptions): Promise<RedisGate> {
  checkOptions(options);
  const url = options.url;
  let Redis: new (
    url: string,
    options: object,
  ) => LeaseClient & {
    defineCommand(name: string, def: { numberOfKeys: number; lua: string }): void;
    connect(): Promise<void>;
    duplicate(): Nudges & { connect(): Promise<void> };
  };
  try {
    const mod = (await import('ioredis')) as unknown as { default: typeof Redis; Redis?: typeof Redis };
    Redis = mod.Redis ?? mod.default;
  } catch (err) {
    throw new Error('dnsgate/redis needs the ioredis package: npm install ioredis', { cause: err });
  }
  const connectTimeout = options.connectTimeoutMs ?? 2000;
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout,
    // Fail a call at once while disconnected (the gate falls back), and reconnect in the
    // background, backing off to 1 s.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // A call that timed out is not sent again after a reconnect: the gate decides what to ask.
    autoResendUnfulfilledCommands: false,
    // A Redis that stops answering (paused, a network black hole) fails the call in time for the
    // lease: the gate then keeps what the lease covers and falls back.
    commandTimeout: Math.max(100, Math.floor((options.leaseMs ?? 3000) / RENEWALS)),
    retryStrategy: (times: number) => Math.min(times * 100, 1000),
    // No handshake beyond AUTH/SELECT when the URL asks for them: RESP2 (no HELLO), no
    // CLIENT SETINFO, no ready check (INFO); a Redis still loading its data answers the lease call
    // with an error, which the gate treats as Redis away for now. Every connection costs Redis
    // nothing then but what the gate asks.
    protocol: 2,
    disableClientInfo: true,
    enableReadyCheck: false,
  });
  // ioredis reports connection errors as events too: the gate reads them from its calls, and the
  // first connect's reason (ECONNREFUSED, ENOTFOUND) from here.
  let connectError: Error | undefined;
  client.on('error', (err) => {
    connectError ??= err;
  });
  client.defineCommand('dnsgateLease', { numberOfKeys: 1, lua: LEASE_SCRIPT });
  try {
    await withTimeout(client.connect(), connectTimeout);
  } catch (err) {
    client.disconnect();
    const why = connectError ?? (err as Error);
    throw new Error(`dnsgate/redis ${redact(url)}: cannot connect: ${why.message}`, { cause: why });
  }
  // The budget's channel on a second connection (ioredis subscribes again after a reconnect). If it
  // cannot be had, the gate does without: renewals and polls get there, later.
  let nudges: (Nudges & { connect(): Promise<void> }) | undefined = client.duplicate();
  nudges.on('error', () => {});
  try {
    await withTimeout(nudges.connect(), connectTimeout);
    await withTimeout(nudges.subscribe(`${options.key}#`), connectTimeout);
  } catch {
    nudges.disconnect();
    nudges = undefined;
  }
  const gate = new RedisGate(client, options, nudges);
  try {
    await gate.start();
  } catch (err) {
    client.disconnect();
    nudges?.disconnect();
    throw err;
  }
  return gate;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
