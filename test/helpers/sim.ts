// A discrete-event simulation of the adaptive gate in virtual time: no sockets, no timers. Real
// AdaptiveLimit instances (src/gate/adaptive.ts), their clock the simulator's, are driven by model
// clients (N lookups under a hard ceiling, each lookup a series of tries with the try loop's rules)
// against model routers (K queries in flight; when full they refuse, as dnsmasq does, or drop, as
// unbound does). Every random draw comes from seeded generators, so a run is a pure function of
// its scenario.

import { POLICY_FINAL, strikeOf } from '../../src/dispatch/try-loop.js';
import {
  ADAPTIVE_DEFAULTS,
  AdaptiveLimit,
  type AdaptiveSettings,
  type OverdueListener,
  type TryTicket,
} from '../../src/gate/adaptive.js';

/** A model router (a home router's DNS forwarder). */
export interface RouterSpec {
  name: string;
  /** Queries it holds in flight at most (dnsmasq's dns-forward-max). */
  capacity: number;
  /** The capacity changes to `capacity` at `atMs` (virtual ms from the start). */
  steps?: { atMs: number; capacity: number }[];
  /** What it does with a query that arrives while it is full. */
  whenFull: 'refuse' | 'drop';
  /** Mean time a query holds its slot before the answer leaves (upstream latency), ms. */
  serviceMs: number;
  /**
   * Share of names the router answers from its cache in serviceMs; the rest (misses) take missMs.
   * Without missMs every name takes serviceMs.
   */
  missShare?: number;
  /** Mean time a miss holds its slot (forwarded upstream), ms. */
  missMs?: number;
  /** A miss holds its slot up to this much longer, uniformly at random (an upstream's spread), ms. */
  missSpreadMs?: number;
  /**
   * Full (whenFull 'drop'), it drops the query it has held longest, if held this long, to take the
   * new one (unbound's jostle-timeout, 200 ms by default); otherwise the new one. Default: never.
   */
  jostleMs?: number;
  /** Service time is uniform in serviceMs × (1 ± jitter); default 0.2. */
  jitter?: number;
  /** How long a REFUSED takes to leave (full, or policy), ms; default 0.1. */
  refuseMs?: number;
  /** Share of names it refuses by policy whatever its load (not holding a slot); default 0. */
  policyShare?: number;
  /** Share of names whose upstream never answers: the query holds its slot holdMs, then nothing. */
  blackHoleShare?: number;
  /** How long a black-holed query holds its slot (dnsmasq's forward timeout), ms; default 10,000. */
  holdMs?: number;
}

/** A model client: `lookups` lookups issued at `startMs`, all at once, under a hard ceiling. */
export interface ClientSpec {
  name: string;
  /** The hard ceiling (`concurrency`): lookups in flight at most. */
  ceiling: number;
  lookups: number;
  /** Router names, in the order the client asks them. */
  servers: string[];
  startMs?: number;
  /** First-try timeout, doubling each round; default 2000. */
  timeoutMs?: number;
  /** Rounds; default 4. */
  tries?: number;
  /** Tuning of the adaptive gate (ADAPTIVE_DEFAULTS otherwise). */
  adaptive?: Partial<AdaptiveSettings>;
}

export type Range = [number, number];

export interface Scenario {
  name: string;
  description: string;
  seed: number;
  /** One-way network delay between client and router, ms; default 0.05. */
  netMs?: number;
  /** Virtual time the run stops at even if lookups are left (they count as lost); default 1 h. */
  maxMs?: number;
  routers: RouterSpec[];
  clients: ClientSpec[];
  /** The routers whose capacity the ideal time is computed at (default all). */
  idealRouters?: string[];
  /** Ranges the current controller meets (with margin). */
  expect: Record<string, Range>;
  /** The issue's targets the current controller misses: each runs as `it.fails`. */
  target?: Record<string, Range>;
  /** What was seen, per target metric. */
  findings?: Record<string, string>;
}

export type Metrics = Record<string, number>;

/** mulberry32: a small, fast, seeded generator of uniform numbers in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Event {
  t: number;
  seq: number;
  fn: () => void;
}

/** The event queue: a binary min-heap on (time, insertion order), so ties run in order. */
class Agenda {
  #heap: Event[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(t: number, fn: () => void): void {
    const heap = this.#heap;
    const e = { t, seq: this.#seq++, fn };
    let i = heap.length;
    heap.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, heap[p]!)) break;
      heap[i] = heap[p]!;
      i = p;
    }
    heap[i] = e;
  }

  pop(): Event | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(heap[r]!, heap[l]!) ? r : l;
      if (!before(heap[c]!, last)) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}

/** A FIFO with O(1) shift. */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  peek(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

type Reply = 'answer' | 'refused' | 'timeout';
type Outcome = 'answer' | 'EREFUSED' | 'ETIMEOUT';

interface RouterState {
  spec: RouterSpec;
  index: number;
  inUse: number;
  /** The queries in its slots, oldest first (kept only when it jostles). */
  slots: Fifo<Slot>;
  /** Queries it dropped, held past jostleMs, to take a new one. */
  jostled: number;
  /** Client tries to it on the wire (all clients): the client side of in flight. */
  outstanding: number;
  overMs: number;
  fullMs: number;
  refusedFull: number;
  droppedFull: number;
  refusedPolicy: number;
  /** REFUSED for being full, read by the client as policy (alone in its gate, or refused again) or forgiven. */
  misread: number;
  /** REFUSED by policy, read by the client as congestion (counted as loss). */
  policyAsLoss: number;
  blackHoled: number;
  answered: number;
  arrivals: number;
}

/** A query in a router's slot; `open` until it leaves (answered, held out, or jostled). */
interface Slot {
  t: Try;
  since: number;
  open: boolean;
}

interface LimitTrace {
  client: string;
  router: string;
  limit: AdaptiveLimit;
  /** (time, floor(limit)) at each change, starting at (0, initial). */
  times: number[];
  values: number[];
}

interface ClientState {
  spec: ClientSpec;
  timeoutMs: number;
  tries: number;
  held: number;
  queue: Fifo<Lookup>;
  /** Lookups asked again after a backoff, served before `queue`. */
  queueFirst: Fifo<Lookup>;
  routers: RouterState[];
  limits: AdaptiveLimit[];
  traces: LimitTrace[];
  /** Lookups waiting for room under each server's limit, holding their permit. */
  serverQueues: Fifo<Lookup>[];
  /** Tries found overdue, waiting for room to be sent again: served before serverQueues. */
  resendQueues: Fifo<Try>[];
  answerTimes: number[];
  settled: number;
  lastSettled: number;
}

interface Lookup {
  client: ClientState;
  /** The name's draw: below a router's policyShare it is refused by policy there; above 1 - blackHoleShare, black-holed. */
  u: number;
  answerable: boolean;
  policy: boolean;
  blackHole: boolean;
  server: number;
  round: number;
  congested: number;
  /**
   * REFUSEDs to it while alone on its way to the server, or refused again when asked again (policy
   * strikes, as the try loop's); and the server whose REFUSED ended its last try (-1: none).
   */
  policyStrikes: number;
  refusedBy: number;
  refused: TryTicket | null;
  done: boolean[] | null;
  lastCode: Outcome;
  startedAt: number;
  endedAt: number;
  outcome: Outcome | undefined;
}

interface Try {
  /** Why the router refused it, when it did. */
  refusedFor: 'full' | 'policy' | undefined;
  lookup: Lookup;
  server: number;
  router: RouterState;
  limit: AdaptiveLimit;
  /** Null while it waits for room to be sent again. */
  ticket: TryTicket | null;
  open: boolean;
  /** The router holds a copy of it in a slot (a retransmission then takes no other). */
  atRouter: boolean;
  /** Times sent again after being found overdue (at most 2, as the try loop). */
  resends: number;
  /** Copies that reached the router; and which it holds (in a slot, or with the copy there). */
  arrived: number;
  held: boolean[];
  /** Its tickets found overdue, copy by copy: each late if its copy is answered. */
  overdue: TryTicket[];
}

function capacityAt(spec: RouterSpec, t: number): number {
  let c = spec.capacity;
  for (const s of spec.steps ?? []) if (t >= s.atMs) c = s.capacity;
  return c;
}

function isPolicy(spec: RouterSpec, u: number): boolean {
  return u < (spec.policyShare ?? 0);
}

function isBlackHole(spec: RouterSpec, u: number): boolean {
  return 1 - u <= (spec.blackHoleShare ?? 0);
}

/** Whether the router forwards a name upstream (a miss) rather than answering from its cache. */
function isMiss(spec: RouterSpec, u: number): boolean {
  // Another draw from the name's: hits and misses independent of policy and black holes.
  return spec.missMs !== undefined && (u * 7919) % 1 < (spec.missShare ?? 0);
}

/** How long the router holds a name's query in its slot, on average (before a miss's spread). */
function serviceOf(spec: RouterSpec, u: number): number {
  return isMiss(spec, u) ? spec.missMs! : spec.serviceMs;
}

/** The mean of the time a query holds its slot, over names. */
function meanService(spec: RouterSpec): number {
  if (spec.missMs === undefined) return spec.serviceMs;
  const miss = spec.missShare ?? 0;
  return miss * (spec.missMs + (spec.missSpreadMs ?? 0) / 2) + (1 - miss) * spec.serviceMs;
}

/** A run's figures, with each limit's trace: (time, floor(limit)) at every change. */
export interface Run {
  metrics: Metrics;
  traces: { key: string; times: number[]; values: number[] }[];
}

/** Runs a scenario to its end (every lookup settled) or to maxMs, and measures it. */
export function simulate(scenario: Scenario): Metrics {
  return run(scenario).metrics;
}

export function run(scenario: Scenario): Run {
  const netMs = scenario.netMs ?? 0.05;
  const maxMs = scenario.maxMs ?? 3_600_000;
  const agenda = new Agenda();
  let now = 0;
  const clock = () => now;
  // The controller's clock: virtual time, its timers on the agenda.
  const timers = {
    now: clock,
    setTimeout(fn: () => void, ms: number) {
      const timer = { cancelled: false, unref() {} };
      agenda.push(now + ms, () => {
        if (!timer.cancelled) fn();
      });
      return timer;
    },
    clearTimeout(timer: unknown) {
      (timer as { cancelled: boolean }).cancelled = true;
    },
  };
  // Separate streams: the client's backoff jitter, the routers' service times, the names.
  const clientRng = rng(scenario.seed * 7919 + 1);
  const routerRng = rng(scenario.seed * 104_729 + 2);
  const nameRng = rng(scenario.seed * 1_299_709 + 3);

  const routers = new Map<string, RouterState>();
  scenario.routers.forEach((spec, index) => {
    routers.set(spec.name, {
      spec,
      index,
      inUse: 0,
      slots: new Fifo<Slot>(),
      jostled: 0,
      outstanding: 0,
      overMs: 0,
      fullMs: 0,
      refusedFull: 0,
      droppedFull: 0,
      refusedPolicy: 0,
      misread: 0,
      policyAsLoss: 0,
      blackHoled: 0,
      answered: 0,
      arrivals: 0,
    });
  });
  const routerOf = (name: string): RouterState => {
    const r = routers.get(name);
    if (r === undefined) throw new Error(`${scenario.name}: no router ${name}`);
    return r;
  };

  const lookups: Lookup[] = [];
  const clients: ClientState[] = scenario.clients.map((spec) => {
    const settings: AdaptiveSettings = { ...ADAPTIVE_DEFAULTS, ...spec.adaptive };
    const rs = spec.servers.map(routerOf);
    const limits = rs.map((r) => new AdaptiveLimit(r.spec.name, spec.ceiling, settings, timers));
    const traces = limits.map((limit, i): LimitTrace => {
      const trace: LimitTrace = {
        client: spec.name,
        router: rs[i]!.spec.name,
        limit,
        times: [0],
        values: [Math.max(1, Math.floor(limit.limit))],
      };
      limit.onChange = (value) => {
        trace.times.push(now);
        trace.values.push(value);
      };
      return trace;
    });
    return {
      spec,
      timeoutMs: spec.timeoutMs ?? 2000,
      tries: spec.tries ?? 4,
      held: 0,
      queue: new Fifo<Lookup>(),
      queueFirst: new Fifo<Lookup>(),
      routers: rs,
      limits,
      traces,
      serverQueues: rs.map(() => new Fifo<Lookup>()),
      resendQueues: rs.map(() => new Fifo<Try>()),
      answerTimes: [],
      settled: 0,
      lastSettled: 0,
    };
  });

  // --- the client: a lookup's life, after the try loop (src/dispatch/try-loop.ts) ---

  /** `first`: asked again after a backoff, ahead of lookups not sent yet (as the try loop's). */
  const acquire = (l: Lookup, first = false): void => {
    const c = l.client;
    if (c.queue.size === 0 && c.queueFirst.size === 0 && c.held < c.spec.ceiling) {
      c.held++;
      begin(l);
    } else {
      (first ? c.queueFirst : c.queue).push(l);
    }
  };

  const release = (c: ClientState): void => {
    c.held--;
    while (c.held < c.spec.ceiling) {
      const next = c.queueFirst.shift() ?? c.queue.shift();
      if (next === undefined) break;
      c.held++;
      begin(next);
    }
  };

  const begin = (l: Lookup): void => {
    if (Number.isNaN(l.startedAt)) l.startedAt = now;
    send(l);
  };

  /**
   * A try goes to the first server from the current one on (not done with) with room under its
   * limit, as c-ares passes over a failing server; with none, it waits for room at the current one.
   */
  const send = (l: Lookup): void => {
    const c = l.client;
    const n = c.limits.length;
    for (let k = 0; k < n; k++) {
      const s = (l.server + k) % n;
      if (l.done?.[s]) continue;
      // A server's own waiters go first (a Semaphore's tryAcquire fails while anyone waits).
      if (c.serverQueues[s]!.size === 0 && c.resendQueues[s]!.size === 0 && c.limits[s]!.gate.tryAcquire()) {
        l.server = s;
        fire(l);
        return;
      }
    }
    c.serverQueues[l.server]!.push(l);
  };

  /**
   * Room under a server's limit goes first to tries found overdue (sent again, same ID), then to
   * the lookups waiting for it, oldest first.
   */
  const pumpServer = (c: ClientState, s: number): void => {
    const again = c.resendQueues[s]!;
    const q = c.serverQueues[s]!;
    const gate = c.limits[s]!.gate;
    for (;;) {
      while (again.size > 0 && !again.peek()!.open) again.shift();
      if (again.size === 0 || !gate.tryAcquire()) break;
      const t = again.shift()!;
      t.ticket = t.limit.sent(ownerOf(t), true, t.lookup.refusedBy === t.server);
      agenda.push(now + netMs, () => arrive(t));
    }
    while (again.size === 0 && q.size > 0 && gate.tryAcquire()) fire(q.shift()!);
  };

  /** Found overdue (presumed dropped): the try loop sends it again once the limit has room. */
  const ownerOf = (t: Try): OverdueListener => ({
    overdue(ticket) {
      if (!t.open || ticket !== t.ticket) return;
      t.overdue.push(ticket);
      if (t.resends >= 2) return;
      t.resends++;
      t.ticket = null;
      t.limit.ended(ticket, 'neutral');
      t.lookup.client.resendQueues[t.server]!.push(t);
      // After the limit has given back the room of every try it found overdue.
      agenda.push(now, () => pumpServer(t.lookup.client, t.server));
    },
  });

  const fire = (l: Lookup): void => {
    const c = l.client;
    const s = l.server;
    const limit = c.limits[s]!;
    const router = c.routers[s]!;
    const t: Try = {
      refusedFor: undefined,
      lookup: l,
      server: s,
      router,
      limit,
      ticket: null,
      open: true,
      atRouter: false,
      resends: 0,
      arrived: 0,
      held: [],
      overdue: [],
    };
    t.ticket = limit.sent(ownerOf(t), false, l.refusedBy === s);
    router.outstanding++;
    agenda.push(now + netMs, () => arrive(t));
    agenda.push(now + c.timeoutMs * 2 ** l.round, () => end(t, 'timeout'));
  };

  const end = (t: Try, reply: Reply): void => {
    if (!t.open) return;
    t.open = false;
    t.router.outstanding--;
    const l = t.lookup;
    const c = l.client;
    let step: 'answer' | 'later' | 'next' | 'retry';
    let policy = false;
    const ticket = t.ticket;
    t.ticket = null;
    if (reply === 'answer') {
      // Each copy sent again goes under a new ID: the router answers every copy it holds, and the
      // try loop learns which of those found overdue were late.
      t.overdue.forEach((o, k) => {
        if (t.held[k]) t.limit.late(o);
      });
      if (ticket !== null) t.limit.ended(ticket, 'answer');
      step = 'answer';
    } else if (reply === 'refused') {
      // As the try loop reads it (AdaptiveLimit#refusal): policy (alone on its way, or refused
      // again after an isolated REFUSED), counted for nothing, to another server if there is one,
      // final at POLICY_FINAL strikes, else asked again later without doubling its backoff;
      // forgiven (counted for nothing) or congestion (loss), asked again later.
      const refusal =
        ticket === null ? 'congestion' : t.limit.refusal(ticket, l.refusedBy === t.server ? l.refused : null);
      policy = refusal === 'alone' || refusal === 'again';
      l.refusedBy = t.server;
      l.refused = ticket;
      const congestion = refusal === 'congestion';
      if (!congestion && t.refusedFor === 'full') t.router.misread++;
      if (congestion && t.refusedFor === 'policy') t.router.policyAsLoss++;
      if (ticket !== null) t.limit.ended(ticket, congestion ? 'loss' : 'neutral');
      const strike = (): boolean => {
        l.policyStrikes += strikeOf(refusal);
        return l.policyStrikes >= POLICY_FINAL;
      };
      step = policy && (otherServer(l, t.server) || strike()) ? 'next' : 'later';
      l.lastCode = 'EREFUSED';
    } else {
      if (ticket !== null) t.limit.ended(ticket, 'drop');
      l.refusedBy = -1;
      step = 'retry';
      l.lastCode = 'ETIMEOUT';
    }
    pumpServer(c, t.server);
    switch (step) {
      case 'answer':
        settle(l, 'answer');
        return;
      case 'later': {
        // Refused: the permit goes back, a jittered backoff (4 RTTs, at most backoffMs, doubling
        // for each refusal taken for congestion), then queue again (ahead of lookups not sent yet)
        // for the same server; after 2 × tries refusals for congestion, EREFUSED.
        if (!policy && ++l.congested > 2 * c.tries) {
          settle(l, l.lastCode);
          return;
        }
        release(c);
        const most = settingsOf(c).backoffMs;
        const rtt = t.limit.rtt;
        const first = rtt === undefined ? most : Math.min(most, Math.max(1, 4 * rtt));
        const backoff = first * 2 ** Math.max(0, l.congested - 1) * (0.5 + clientRng());
        agenda.push(now + backoff, () => acquire(l, true));
        return;
      }
      case 'next':
        l.done ??= new Array<boolean>(c.limits.length).fill(false);
        l.done[t.server] = true;
        advance(l);
        return;
      default:
        advance(l);
    }
  };

  /** Whether a server other than `s` may still be asked for `l`. */
  const otherServer = (l: Lookup, s: number): boolean =>
    l.client.limits.some((_, k) => k !== s && l.done?.[k] !== true);

  /** On to the next server not done with, this round or the next; or the lookup fails. */
  const advance = (l: Lookup): void => {
    const c = l.client;
    const n = c.limits.length;
    const done = l.done;
    let s = l.server + 1;
    while (s < n && done?.[s]) s++;
    if (s >= n) {
      l.round++;
      s = 0;
      while (s < n && done?.[s]) s++;
      if (l.round >= c.tries || s >= n) {
        settle(l, l.lastCode);
        return;
      }
    }
    l.server = s;
    send(l);
  };

  let settledAll = 0;
  const settle = (l: Lookup, outcome: Outcome): void => {
    const c = l.client;
    settledAll++;
    l.outcome = outcome;
    l.endedAt = now;
    c.settled++;
    c.lastSettled = now;
    if (outcome === 'answer') c.answerTimes.push(now);
    release(c);
  };

  // --- the router ---

  const arrive = (t: Try): void => {
    const r = t.router;
    const spec = r.spec;
    r.arrivals++;
    const copy = t.arrived++;
    const u = t.lookup.u;
    const reply = (delay: number, kind: Reply) => agenda.push(now + delay + netMs, () => end(t, kind));
    if (isPolicy(spec, u)) {
      r.refusedPolicy++;
      t.refusedFor = 'policy';
      reply(spec.refuseMs ?? 0.1, 'refused');
      return;
    }
    // A copy of a query the router holds: the same query, no other slot, answered with it.
    if (t.atRouter) {
      t.held[copy] = true;
      return;
    }
    const jostle = spec.jostleMs;
    // (Slots already left are skipped: the oldest still held is the one it may jostle.)
    while (jostle !== undefined && r.slots.size > 0 && !r.slots.peek()!.open) r.slots.shift();
    if (r.inUse >= capacityAt(spec, now)) {
      const oldest = r.slots.peek();
      if (
        spec.whenFull === 'drop' &&
        jostle !== undefined &&
        oldest !== undefined &&
        now - oldest.since >= jostle
      ) {
        // The query held longest makes room: it is never answered, this one takes its slot.
        r.slots.shift();
        oldest.open = false;
        oldest.t.atRouter = false;
        oldest.t.held.fill(false); // its copies so far are never answered
        r.jostled++;
        r.inUse--;
      } else if (spec.whenFull === 'refuse') {
        r.refusedFull++;
        t.refusedFor = 'full';
        reply(spec.refuseMs ?? 0.1, 'refused');
        return;
      } else {
        r.droppedFull++;
        return;
      }
    }
    r.inUse++;
    t.atRouter = true;
    t.held[copy] = true;
    const slot: Slot = { t, since: now, open: true };
    if (jostle !== undefined) r.slots.push(slot);
    if (isBlackHole(spec, u)) {
      r.blackHoled++;
      agenda.push(now + (spec.holdMs ?? 10_000), () => {
        if (!slot.open) return; // jostled
        slot.open = false;
        r.inUse--;
        t.atRouter = false;
      });
      return;
    }
    const j = spec.jitter ?? 0.2;
    const spread = spec.missSpreadMs !== undefined && isMiss(spec, u) ? spec.missSpreadMs * routerRng() : 0;
    const service = serviceOf(spec, u) * (1 + j * (2 * routerRng() - 1)) + spread;
    agenda.push(now + service, () => {
      if (!slot.open) return; // jostled
      slot.open = false;
      r.inUse--;
      t.atRouter = false;
      r.answered++;
      reply(0, 'answer');
    });
  };

  // --- the run ---

  for (const c of clients) {
    const first = c.routers;
    for (let i = 0; i < c.spec.lookups; i++) {
      const u = nameRng();
      const answerable = first.some((r) => !isPolicy(r.spec, u) && !isBlackHole(r.spec, u));
      const l: Lookup = {
        client: c,
        u,
        answerable,
        policy: !answerable && first.some((r) => isPolicy(r.spec, u)),
        blackHole: !answerable && first.some((r) => isBlackHole(r.spec, u)),
        server: 0,
        round: 0,
        congested: 0,
        policyStrikes: 0,
        refusedBy: -1,
        refused: null,
        done: null,
        lastCode: 'ETIMEOUT',
        startedAt: Number.NaN,
        endedAt: Number.NaN,
        outcome: undefined,
      };
      lookups.push(l);
    }
  }
  let li = 0;
  for (const c of clients) {
    const mine = lookups.slice(li, li + c.spec.lookups);
    li += c.spec.lookups;
    agenda.push(c.spec.startMs ?? 0, () => {
      for (const l of mine) acquire(l);
    });
  }

  const all = [...routers.values()];
  let last = 0;
  const total = lookups.length;
  while (settledAll < total) {
    const e = agenda.pop();
    if (e === undefined || e.t > maxMs) break;
    const dt = e.t - last;
    if (dt > 0) {
      for (const r of all) {
        const cap = capacityAt(r.spec, last);
        if (r.outstanding > cap) r.overMs += dt;
        if (r.inUse >= cap) r.fullMs += dt;
      }
      last = e.t;
    }
    now = e.t;
    e.fn();
  }

  return {
    metrics: measure(scenario, clients, all, lookups, netMs, last),
    traces: clients.flatMap((c) =>
      c.traces.map((tr) => ({ key: `${tr.client}.${tr.router}`, times: tr.times, values: tr.values })),
    ),
  };
}

function settingsOf(c: ClientState): AdaptiveSettings {
  return c.limits[0]!.settings;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The least time in which routers of these capacities (over time) could serve `work` ms of slot time. */
function fluidTime(specs: RouterSpec[], ceiling: number, work: number): number {
  const changes = [...new Set([0, ...specs.flatMap((s) => (s.steps ?? []).map((x) => x.atMs))])].sort(
    (a, b) => a - b,
  );
  let left = work;
  for (let i = 0; i < changes.length; i++) {
    const t = changes[i]!;
    const rate = Math.min(
      ceiling,
      specs.reduce((n, s) => n + capacityAt(s, t), 0),
    );
    const end = changes[i + 1] ?? Number.POSITIVE_INFINITY;
    if (left <= rate * (end - t)) return t + left / rate;
    left -= rate * (end - t);
  }
  return Number.NaN;
}

function measure(
  scenario: Scenario,
  clients: ClientState[],
  routers: RouterState[],
  lookups: Lookup[],
  netMs: number,
  ran: number,
): Metrics {
  const m: Metrics = {};
  const settled = lookups.filter((l) => l.outcome !== undefined);
  const wall = Math.max(0, ...settled.map((l) => l.endedAt));
  const answerable = lookups.filter((l) => l.answerable);
  const lostAnswerable = answerable.filter((l) => l.outcome !== 'answer');
  m.lookups = lookups.length;
  m.answered = lookups.filter((l) => l.outcome === 'answer').length;
  m.lost = lookups.length - m.answered;
  m.unfinished = lookups.length - settled.length;
  m.lostAnswerable = lostAnswerable.length;
  m.failedRefused = lookups.filter((l) => l.outcome === 'EREFUSED').length;
  m.failedTimeout = lookups.filter((l) => l.outcome === 'ETIMEOUT').length;

  let tries = 0;
  let congestion = 0;
  for (const r of routers) {
    tries += r.arrivals;
    congestion += r.refusedFull + r.droppedFull + r.jostled;
    const n = r.spec.name;
    m[`tries.${n}`] = r.arrivals;
    m[`refusedFull.${n}`] = r.refusedFull;
    m[`droppedFull.${n}`] = r.droppedFull;
    m[`jostled.${n}`] = r.jostled;
    m[`refusedPolicy.${n}`] = r.refusedPolicy;
    m[`misread.${n}`] = r.misread;
    m[`policyAsLoss.${n}`] = r.policyAsLoss;
    m[`blackHoled.${n}`] = r.blackHoled;
    // Shares of the run's time with more tries on the wire to it than it holds, and with it full.
    m[`over.${n}`] = ran > 0 ? r.overMs / ran : 0;
    m[`full.${n}`] = ran > 0 ? r.fullMs / ran : 0;
  }
  m.tries = tries;
  // Tries refused or dropped because the router was full: the congestion the gate should avoid.
  m.congestionShare = tries > 0 ? congestion / tries : 0;

  // The ideal: the routers' slot time the job needs (one service per answerable lookup, and a
  // full hold for every try of a black-holed name) at their capacity, capped by the ceilings.
  const idealSpecs = scenario.routers.filter(
    (r) => scenario.idealRouters === undefined || scenario.idealRouters.includes(r.name),
  );
  const serviceMs = idealSpecs.reduce((n, r) => n + meanService(r), 0) / idealSpecs.length;
  let work = answerable.length * serviceMs;
  for (const l of lookups) {
    if (!l.blackHole) continue;
    const r = idealSpecs.find((s) => isBlackHole(s, l.u));
    if (r !== undefined) work += l.client.tries * (r.holdMs ?? 10_000);
  }
  const ceiling = clients.reduce((n, c) => n + c.spec.ceiling, 0);
  m.idealMs = fluidTime(idealSpecs, ceiling, work) + serviceMs + 2 * netMs;
  m.wallMs = wall;
  // When the last answerable lookup settled: the job as the user sees it, doomed names aside.
  m.doneMs = Math.max(0, ...answerable.map((l) => (Number.isNaN(l.endedAt) ? wall : l.endedAt)));
  m.wallOverIdeal = m.doneMs / m.idealMs;

  const latencies = answerable
    .filter((l) => l.outcome === 'answer')
    .map((l) => l.endedAt - l.startedAt)
    .sort((a, b) => a - b);
  m['latency.p50Ms'] = quantile(latencies, 0.5);
  m['latency.p99Ms'] = quantile(latencies, 0.99);
  // When the answers came: half of them by finish.p50Ms.
  const finish = answerable
    .filter((l) => l.outcome === 'answer')
    .map((l) => l.endedAt)
    .sort((a, b) => a - b);
  m['finish.p50Ms'] = quantile(finish, 0.5);
  m['finish.p90Ms'] = quantile(finish, 0.9);
  m['finish.p99Ms'] = quantile(finish, 0.99);
  const policy = lookups
    .filter((l) => l.policy && l.outcome !== undefined)
    .map((l) => l.endedAt - l.startedAt)
    .sort((a, b) => a - b);
  if (policy.length > 0) {
    m['policy.names'] = lookups.filter((l) => l.policy).length;
    m['policy.refused'] = lookups.filter((l) => l.policy && l.outcome === 'EREFUSED').length;
    m['policy.p50Ms'] = quantile(policy, 0.5);
    m['policy.maxMs'] = policy[policy.length - 1]!;
  }
  const holes = lookups.filter((l) => l.blackHole).length;
  if (holes > 0) m['blackHole.names'] = holes;

  for (const c of clients) {
    for (const tr of c.traces) {
      const key = `${tr.client}.${tr.router}`;
      const end = c.settled === c.spec.lookups ? c.lastSettled : ran;
      m[`limit.final.${key}`] = tr.values[tr.values.length - 1]!;
      m[`limit.avg.${key}`] = average(tr, 0, end);
      m[`limit.min.${key}`] = Math.min(...tr.values.filter((_, i) => tr.times[i]! <= end));
      m[`limit.max.${key}`] = Math.max(...tr.values.filter((_, i) => tr.times[i]! <= end));
      m[`cuts.${key}`] = tr.limit.view.cuts;
      const spec = c.routers[c.spec.servers.indexOf(tr.router)]!.spec;
      // Capacity steps: how soon the limit follows (down to 1.25 × the new capacity, up to 0.75 ×),
      // and its average in each phase.
      const steps = spec.steps ?? [];
      const rtt = spec.serviceMs + 2 * netMs;
      const bounds = [0, ...steps.map((s) => s.atMs), end];
      for (let i = 0; i + 1 < bounds.length; i++) {
        if (steps.length > 0) m[`phase${i}.limitAvg.${key}`] = average(tr, bounds[i]!, bounds[i + 1]!);
      }
      steps.forEach((s, i) => {
        const from = capacityAt(spec, s.atMs - 1e-9);
        const down = s.capacity < from;
        const ok = (v: number) => (down ? v <= 1.25 * s.capacity : v >= 0.75 * s.capacity);
        let at = Number.NaN;
        if (ok(valueAt(tr, s.atMs))) at = s.atMs;
        else {
          for (let k = 0; k < tr.times.length; k++) {
            if (tr.times[k]! > s.atMs && ok(tr.values[k]!)) {
              at = tr.times[k]!;
              break;
            }
          }
        }
        m[`step${i}.followMs.${key}`] = at - s.atMs;
        m[`step${i}.followWindows.${key}`] = (at - s.atMs) / rtt;
      });
    }
  }

  // Throughput shares while every client is at work.
  if (clients.length > 1) {
    const from = Math.max(...clients.map((c) => c.spec.startMs ?? 0));
    const to = Math.min(...clients.map((c) => c.lastSettled));
    const counts = clients.map((c) => c.answerTimes.filter((t) => t >= from && t <= to).length);
    const sum = counts.reduce((a, b) => a + b, 0);
    clients.forEach((c, i) => {
      m[`share.${c.spec.name}`] = sum > 0 ? counts[i]! / sum : 0;
      m[`done.${c.spec.name}Ms`] = c.lastSettled;
    });
    m.overlapMs = to - from;
  }
  return m;
}

function valueAt(tr: LimitTrace, t: number): number {
  let v = tr.values[0]!;
  for (let k = 0; k < tr.times.length && tr.times[k]! <= t; k++) v = tr.values[k]!;
  return v;
}

/** The time-weighted average of floor(limit) over [from, to]. */
function average(tr: LimitTrace, from: number, to: number): number {
  if (to <= from) return valueAt(tr, from);
  let sum = 0;
  for (let k = 0; k < tr.values.length; k++) {
    const a = Math.max(from, tr.times[k]!);
    const b = Math.min(to, tr.times[k + 1] ?? Number.POSITIVE_INFINITY);
    if (b > a) sum += tr.values[k]! * (b - a);
  }
  return sum / (to - from);
}

/** The figures worth a glance, one line. */
export function summary(name: string, m: Metrics): string {
  const f = (x: number | undefined, d = 2) =>
    x === undefined ? '-' : Number.isInteger(x) ? String(x) : x.toFixed(d);
  const limits = Object.keys(m)
    .filter((k) => k.startsWith('limit.final.'))
    .map((k) => {
      const key = k.slice('limit.final.'.length);
      const router = key.slice(key.indexOf('.') + 1);
      return `${key} final ${f(m[k])} avg ${f(m[`limit.avg.${key}`], 1)} min ${f(m[`limit.min.${key}`])} max ${f(m[`limit.max.${key}`])} cuts ${f(m[`cuts.${key}`])} over ${(100 * (m[`over.${router}`] ?? 0)).toFixed(1)}%`;
    })
    .join('; ');
  return (
    `${name}: lost ${f(m.lost)} (answerable ${f(m.lostAnswerable)}, unfinished ${f(m.unfinished)}), ` +
    `congestion ${(100 * m.congestionShare!).toFixed(2)}% of ${f(m.tries)} tries, ` +
    `misread ${f(sumOf(m, 'misread.'))}, policy as loss ${f(sumOf(m, 'policyAsLoss.'))}, ` +
    `done ${f(m.doneMs, 0)} ms / ideal ${f(m.idealMs, 0)} ms = ${f(m.wallOverIdeal)}, wall ${f(m.wallMs, 0)} ms; ${limits}`
  );
}

function sumOf(m: Metrics, prefix: string): number {
  let n = 0;
  for (const [k, v] of Object.entries(m)) if (k.startsWith(prefix)) n += v;
  return n;
}
