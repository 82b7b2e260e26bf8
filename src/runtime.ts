// What the query path takes from the world besides sockets: a clock, timers on it, and query IDs.
// Real ones by default; a test passes a clock it drives (dnsgate/testing's FakeClock), so
// timeouts, deadlines, paces and idle sweeps run in virtual time instead of real seconds.
import { randomFillSync } from 'node:crypto';

/** A timer a {@link Clock} armed; `unref` lets the process exit while it waits (node's Timeout has both). */
export interface ClockTimer {
  ref?(): unknown;
  unref?(): unknown;
}

/**
 * Time as the query path reads it: `now()` in milliseconds (monotonic, any origin) and one-shot
 * timers. The default is `performance.now()` and node's `setTimeout`.
 *
 * @example
 * ```ts
 * import { Resolver } from 'dnsgate';
 * import { FakeClock } from 'dnsgate/testing';
 * const clock = new FakeClock();
 * const resolver = new Resolver({ servers: ['127.0.0.1:5353'], runtime: { clock } });
 * await clock.advance(2000); // every timeout due in the next 2 s fires now
 * ```
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer): void;
}

/**
 * What a resolver takes from its surroundings: the clock (for timeouts, deadlines, the rate and
 * the idle sweep) and the source of query IDs (RFC 5452 §4: unpredictable; the default draws from
 * `crypto`).
 *
 * @example
 * ```ts
 * import { Resolver } from 'dnsgate';
 * import { FakeClock } from 'dnsgate/testing';
 * const resolver = new Resolver({ servers: ['127.0.0.1:5353'], runtime: { clock: new FakeClock() } });
 * ```
 */
export interface RuntimeOptions {
  clock?: Clock;
  /** A 16-bit query ID for each query sent. */
  queryId?: () => number;
}

/** The runtime one resolver's queries run on: its clock, timer lists on it, and its IDs. */
export interface Runtime {
  readonly clock: Clock;
  /** Try timeouts and paces: waits of a few seconds, each list kept sorted by appending. */
  readonly timers: Timers;
  /**
   * Calls' deadlines, on a list of their own: they are longer than a try's timeout, so in one
   * list every try's timeout would be sorted in past every deadline in flight.
   */
  readonly deadlines: Timers;
  readonly queryId: () => number;
}

const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

// Random IDs from crypto, drawn 1,024 at a time: one syscall per 1,024 queries instead of one each.
const idPool = new Uint16Array(1024);
let idNext = idPool.length;

/** A random 16-bit query ID (RFC 5452 §4: IDs must be unpredictable; drawn in blocks, so a query costs an array read, not a syscall). */
export function randomQueryId(): number {
  if (idNext === idPool.length) {
    randomFillSync(idPool);
    idNext = 0;
  }
  return idPool[idNext++]!;
}

/** Something that waits for a due time; {@link Timers.schedule} links it into the list. */
export interface Timed {
  /** When it is due, in the clock's milliseconds. */
  due: number;
  prev: Timed | null;
  next: Timed | null;
  /** Whether it is in a list now. */
  scheduled: boolean;
  /** Whether it may not keep the process alive (see {@link Timers.weaken}). */
  weak: boolean;
  /** Called once when it is due, after it has left the list. */
  expire(): void;
}

/** The longest delay node's setTimeout takes as given (2^31 - 1 ms). */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * One timer for every wait on a clock: a list sorted by due time and a single clock timer armed
 * for its head. Arming and cancelling a wait is a few pointer writes instead of a setTimeout and a
 * clearTimeout per query; most waits end with an answer long before they are due.
 *
 * @example
 * ```ts
 * const timers = new Timers(clock);
 * timers.schedule(attempt, 2000); // attempt.expire() in 2 s
 * timers.unschedule(attempt);     // the answer came first
 * ```
 */
export class Timers {
  readonly clock: Clock;
  #head: Timed | null = null;
  #tail: Timed | null = null;
  /** The clock timer, armed for `#armedFor`; it keeps the process alive only while something waits. */
  #timer: ClockTimer | undefined;
  #armedFor = Number.POSITIVE_INFINITY;
  #refed = false;
  /** Entries that keep the process alive: in the list and not weakened. */
  #strong = 0;
  readonly #fire = () => this.#fired();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /**
   * Calls `t.expire()` in `ms` milliseconds unless {@link unschedule} comes first. While anything
   * is scheduled, the process stays alive (as a pending setTimeout would keep it).
   */
  schedule(t: Timed, ms: number): void {
    const due = this.clock.now() + ms;
    t.due = due;
    t.scheduled = true;
    t.weak = false;
    this.#strong++;
    // Waits of one duration end in the order they start, so the new one almost always goes last.
    let after = this.#tail;
    while (after !== null && after.due > due) after = after.prev;
    t.prev = after;
    t.next = after === null ? this.#head : after.next;
    if (t.next === null) this.#tail = t;
    else t.next.prev = t;
    if (after === null) this.#head = t;
    else after.next = t;
    if (!this.#refed) {
      this.#refed = true;
      this.#timer?.ref?.();
    }
    if (due < this.#armedFor) this.#arm(due);
  }

  /** Takes `t` out of the list; nothing happens if it is not in it. */
  unschedule(t: Timed): void {
    if (!t.scheduled) return;
    t.scheduled = false;
    if (t.prev === null) this.#head = t.next;
    else t.prev.next = t.next;
    if (t.next === null) this.#tail = t.prev;
    else t.next.prev = t.prev;
    t.prev = t.next = null;
    if (!t.weak) this.#release();
  }

  /**
   * Lets `t` fire without keeping the process alive: a query whose caller gave up waits on for its
   * late answer (to hold its permit as long as the router holds the query), but nobody waits for it.
   */
  weaken(t: Timed): void {
    if (!t.scheduled || t.weak) return;
    t.weak = true;
    this.#release();
  }

  #release(): void {
    // Nothing anyone waits for: let the process exit. The timer stays armed, unref'd, and fires
    // (for weak entries) or lapses harmlessly.
    if (--this.#strong === 0 && this.#refed) {
      this.#refed = false;
      this.#timer?.unref?.();
    }
  }

  #arm(due: number): void {
    const clock = this.clock;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#armedFor = due;
    // Node's timers fire by the loop's cached clock, which may lag: never ask for less than 1 ms.
    // Nor more than node's maximum (about 24.8 days; beyond it node fires after 1 ms, and the list
    // would re-arm every millisecond): a far wait fires early, finds nothing due, and re-arms.
    const timer = clock.setTimeout(
      this.#fire,
      Math.min(MAX_DELAY, Math.max(1, Math.ceil(due - clock.now()))),
    );
    this.#timer = timer;
    if (!this.#refed) timer.unref?.();
  }

  #fired(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    // A timer may fire a fraction of a millisecond early by performance.now(): round in its favour.
    const now = this.clock.now() + 1;
    // What expires may schedule again (a retry); those are due later than `now`, so the loop ends.
    try {
      while (this.#head !== null && this.#head.due <= now) {
        const t = this.#head;
        this.unschedule(t);
        t.expire();
      }
    } finally {
      if (this.#head !== null && this.#head.due < this.#armedFor) this.#arm(this.#head.due);
    }
  }
}

const listsByClock = new WeakMap<Clock, { timers: Timers; deadlines: Timers }>();

/** The default runtime: real time, random IDs. */
export const realRuntime: Runtime = {
  clock: realClock,
  timers: new Timers(realClock),
  deadlines: new Timers(realClock),
  queryId: randomQueryId,
};

/** A runtime from options: the real one unless a clock or ID source is given (timer lists per clock). */
export function runtimeOf(options: RuntimeOptions | undefined): Runtime {
  if (options === undefined || (options.clock === undefined && options.queryId === undefined))
    return realRuntime;
  const clock = options.clock ?? realClock;
  let lists = clock === realClock ? realRuntime : listsByClock.get(clock);
  if (lists === undefined) {
    lists = { timers: new Timers(clock), deadlines: new Timers(clock) };
    listsByClock.set(clock, lists);
  }
  return {
    clock,
    timers: lists.timers,
    deadlines: lists.deadlines,
    queryId: options.queryId ?? randomQueryId,
  };
}
