// The adaptive gate: the controller on a clock the test sets (exact expectations), then the
// resolver against test servers that refuse when full, refuse everything, or go silent.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { ADAPTIVE_DEFAULTS, AdaptiveLimit, type TryKind, type TryTicket } from '../src/gate/adaptive.js';
import { DnsError, Resolver } from '../src/index.js';
import {
  FakeClock,
  type HandlerResult,
  rcode,
  silent,
  startTestServer,
  type TestServer,
} from '../src/testing/index.js';
import type { Packet } from '../src/wire/codec.js';
import { deferred } from './helpers/deferred.js';
import { ZONE } from './helpers/example-zone.js';

describe('the controller (virtual time)', () => {
  let now = 0;
  // A clock the test sets; `advance` fires the controller's timers that fall due, in order.
  let timers: Array<{ due: number; fn: () => void }> = [];
  const clock = {
    now: () => now,
    setTimeout: (fn: () => void, ms: number) => {
      const t = { due: now + ms, fn, unref() {} };
      timers.push(t);
      return t;
    },
    clearTimeout: (t: unknown) => {
      timers = timers.filter((x) => x !== t);
    },
  };
  const advance = (to: number) => {
    for (;;) {
      const due = timers.filter((t) => t.due <= to).sort((a, b) => a.due - b.due)[0];
      if (due === undefined) break;
      timers = timers.filter((t) => t !== due);
      now = due.due;
      due.fn();
    }
    now = to;
  };
  const make = (ceiling = 100, settings = ADAPTIVE_DEFAULTS) =>
    new AdaptiveLimit('s', ceiling, settings, clock);
  /** Sends `n` tries (each under a permit) and returns their tickets. */
  const send = (l: AdaptiveLimit, n: number): TryTicket[] =>
    Array.from({ length: n }, () => {
      expect(l.gate.tryAcquire()).toBe(true);
      return l.sent();
    });
  const end = (l: AdaptiveLimit, tickets: TryTicket[], kind: TryKind) => {
    for (const t of tickets) l.ended(t, kind);
  };
  /** The 16 RTT samples (0 ms, one try at a time: no growth) the guard waits for before it judges. */
  const warm = (l: AdaptiveLimit) => {
    for (let i = 0; i < 16; i++) end(l, send(l, 1), 'answer');
  };

  /** 24 answers in 1 ms, one try at a time: the RTT and the quickest answers of the first 20 ms are 1 ms. */
  const warmAt1ms = (l: AdaptiveLimit) => {
    for (let i = 0; i < 24; i++) {
      const t = send(l, 1);
      now += 1;
      end(l, t, 'answer');
    }
  };

  /**
   * A limit (from 30) that has seen a queue-bound server: 9 of 30 answered, the last three refused
   * in 2 ms (twice the quickest answer), the rest answered; its edge is 20.
   */
  const queueBound = () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 30 });
    warmAt1ms(l);
    const tickets = send(l, 30);
    now += 2;
    end(l, tickets.slice(0, 9), 'answer');
    end(l, tickets.slice(27).reverse(), 'loss');
    end(l, tickets.slice(9, 27), 'answer');
    expect(l.view.edge).toBe(20);
    return l;
  };

  /** Sends `n` tries, answers all but the first `out` at 1 ms, and lets the guard find those overdue. */
  const strand = (l: AdaptiveLimit, n: number, out: number): TryTicket[] => {
    const t0 = now;
    const tickets = send(l, n);
    now = t0 + 1;
    end(l, tickets.slice(out), 'answer');
    advance(t0 + 52); // 20 ms is the floor of the guard
    return tickets;
  };

  /** Sends `n` tries, answers all but the last at 1 ms, and lets the guard find it overdue (sent with n out). */
  const lastOverdue = (l: AdaptiveLimit, n: number): TryTicket[] => {
    const tickets = send(l, n);
    now += 1;
    end(l, tickets.slice(0, n - 1), 'answer');
    advance(now + 29);
    return tickets;
  };

  afterEach(() => {
    now = 0;
    timers = [];
  });

  it('starts at 8 and doubles in slow start once per 20 ms, spread over the 20 ms', () => {
    const l = make();
    expect(l.view.limit).toBe(8);
    end(l, send(l, 8), 'answer'); // at the start of the period: no growth yet
    expect(l.view.limit).toBe(8);
    now = 5;
    end(l, send(l, 8), 'answer'); // a quarter in: 8 * 1.25
    expect(l.view.limit).toBe(10);
    now = 19;
    end(l, send(l, 10), 'answer'); // ceil(8 * 1.95), one step per answer
    expect(l.view.limit).toBe(16);
    end(l, send(l, 16), 'answer'); // within the period, no further growth
    expect(l.view.limit).toBe(16);
    now = 20; // a new period, from 16
    end(l, send(l, 16), 'answer');
    expect(l.view.limit).toBe(16);
    now = 30;
    end(l, send(l, 16), 'answer');
    expect(l.view.limit).toBe(24);
  });

  it('slow start ends before any loss once answers slow down: a period whose least RTT is 1.25x the least before (HyStart)', () => {
    /** Rounds until `to`: as many tries as the limit, all answered `rtt` ms later. */
    const rounds = (l: AdaptiveLimit, rtt: number, to: number) => {
      while (now < to) {
        const tickets = send(l, l.gate.limit);
        now += rtt;
        end(l, tickets, 'answer');
      }
    };
    // Answers at 1 ms, then from 45 ms at 1.2 ms (1.2x): slow start goes on, doubling every 20 ms.
    const steady = make(1000);
    rounds(steady, 1, 45);
    rounds(steady, 1.2, 81);
    expect(steady.view.limit).toBe(126);
    now = 0;
    // Answers at 1 ms, then from 45 ms at 1.3 ms. The period from 40 ms still holds 1 ms answers;
    // the one from 60 ms holds only slower ones: its 8th ends slow start, then +1 per window (round).
    const slowing = make(1000);
    rounds(slowing, 1, 45);
    expect(slowing.view.limit).toBe(40);
    rounds(slowing, 1.3, 61);
    expect(slowing.view.limit).toBe(64);
    rounds(slowing, 1.3, 81);
    expect(slowing.view.limit).toBe(79); // not 126: +1 per round since the exit
    expect(slowing.view.cuts).toBe(0);
  });

  it('RTT as a guard: a try unanswered far past the RTT counts as lost at once (a drop), once', () => {
    const l = make();
    warm(l);
    const first = send(l, 8);
    now = 1;
    end(l, first.slice(1), 'answer'); // RTT 1 ms; first[0] is still out
    expect(l.view.cuts).toBe(0);
    advance(22); // 20 ms is the floor of the guard: a timer looks then

    expect(l.view).toMatchObject({ cuts: 1, losses: 1 });
    // Its timeout later does not count it again.
    end(l, first.slice(0, 1), 'drop');
    expect(l.view).toMatchObject({ cuts: 1, losses: 1 });
  });

  it('a try dropped silently keeps the edge of the queries in flight at its send, unless sent under a cut since taken back: then no lower than half the limit (a REFUSED: exact)', () => {
    // Sent alone, dropped: the router held nothing else, its edge is 1.
    const alone = make();
    warm(alone);
    const [lone] = send(alone, 1);
    advance(now + 30);
    expect(alone.view).toMatchObject({ losses: 1, cuts: 1, edge: 1, limit: 1 });
    end(alone, [lone!], 'drop');

    now = 0;
    timers = [];
    const l = make();
    warm(l);
    const [first] = strand(l, 8, 1); // found overdue at the guard's floor: cut to 0.7 x 1
    expect(l.view).toMatchObject({ limit: 1, cuts: 1 });
    const [old] = send(l, 1); // sent under that cut, alone
    l.late(first!); // its first copy answered after all: the cut is taken back
    const limit = l.view.limit;
    expect(l.view.cuts).toBe(0);
    expect(limit).toBeGreaterThanOrEqual(8);
    // Dropped: a router that jostles drops the query it has held longest, to take a new one, and
    // the 1 in flight at its send came from a limit wrongly low. Before: the edge at 1, the limit
    // cut to 1 again.
    advance(now + 100); // past the guard, which the late answer raised to 1.25x its wait
    expect(l.view).toMatchObject({ losses: 1, cuts: 1 });
    expect(l.view).toMatchObject({ edge: Math.floor(limit / 2), limit: Math.floor((limit / 2) * 0.7) });
    end(l, [first!, old!], 'neutral');

    // A REFUSED comes back at once: the router was full then, with what was in flight at its send.
    now = 0;
    timers = [];
    const r = make();
    warm(r);
    const [overdue] = strand(r, 8, 1);
    const [refused] = send(r, 1);
    r.late(overdue!);
    r.ended(refused!, 'loss');
    expect(r.view).toMatchObject({ edge: 1, limit: 1 });
    end(r, [overdue!], 'neutral');
  });

  it('a try found overdue and then answered on its first copy was late: its loss and its cut are taken back, and the guard learns its wait', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 16 });
    warm(l);
    const first = strand(l, 10, 1); // first[0] is overdue: a cut, to the 1 query out when it was sent
    expect(l.view).toMatchObject({ cuts: 1, losses: 1, limit: 1, edge: 1 });
    now = 70;
    l.late(first[0]!); // its first copy answered, 70 ms after it went
    l.ended(first[0]!, 'neutral');
    expect(l.view).toMatchObject({ cuts: 0, losses: 0, limit: 16, edge: undefined });
    l.late(first[0]!); // once per try
    expect(l.view).toMatchObject({ cuts: 0, losses: 0 });
    // For 10 s, the guard is 1.25 x 70 = 87.5 ms: a try out 80 ms is not yet overdue, one out 90 is.
    const next = send(l, 1);
    advance(now + 80);
    expect(l.view.losses).toBe(0);
    advance(now + 10);
    expect(l.view).toMatchObject({ losses: 1, cuts: 1 });
    l.ended(next[0]!, 'drop');
    // 10 s after the late answer it is forgotten: the floor is 20 ms again.
    advance(10_100);
    const later = send(l, 1);
    advance(now + 22);
    expect(l.view.losses).toBe(2);
    l.ended(later[0]!, 'drop');
  });

  it('after a late answer, slow start doubles no faster than once per the guard it learned (a drop is seen no sooner)', () => {
    const l = make();
    warm(l);
    const first = strand(l, 8, 1);
    now = 101;
    l.late(first[0]!); // 100 ms: the guard is 125 ms for 10 s
    l.ended(first[0]!, 'neutral');
    expect(l.view.limit).toBe(9); // where it was before the cut
    now = 1000;
    const start = now;
    end(l, send(l, 9), 'answer'); // a new period begins here, from 9
    now = start + 25;
    end(l, send(l, 9), 'answer'); // a fifth in: ceil(9 * 1.2); at 20 ms a period it would be 18
    expect(l.view.limit).toBe(11);
    now = start + 124;
    end(l, send(l, 11), 'answer'); // ceil(9 * 1.992)
    expect(l.view.limit).toBe(18);
  });

  it('a cut is taken back only once every try lost since has turned out late', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 16 });
    warm(l);
    const first = strand(l, 10, 2); // first[0] and first[1] overdue: one cut
    expect(l.view).toMatchObject({ cuts: 1, losses: 2, limit: 1 });
    l.late(first[0]!);
    expect(l.view).toMatchObject({ cuts: 1, losses: 1, limit: 1 }); // first[1] may have been dropped
    l.late(first[1]!);
    expect(l.view).toMatchObject({ cuts: 0, losses: 0, limit: 16 });
    end(l, first.slice(0, 2), 'neutral');
    // A REFUSED counted in the window holds the cut, late answers or not.
    const more = send(l, 10);
    now += 1;
    end(l, more.slice(2), 'answer');
    now += 30;
    const refused = send(l, 1);
    advance(now + 40); // more[0] and more[1] overdue (the guard: 1.25 x 52 = 65 ms), not `refused`
    expect(l.view).toMatchObject({ cuts: 1, losses: 2 });
    l.ended(refused[0]!, 'loss'); // sent before the cut: no second cut, but it holds this one
    l.late(more[0]!);
    l.late(more[1]!);
    expect(l.view).toMatchObject({ cuts: 1, losses: 1 });
    end(l, more.slice(0, 2), 'neutral');
  });

  it('cuts taken back newest first: two cuts from late tries both go; a REFUSED between holds the older', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 16 });
    warm(l);
    const a = strand(l, 10, 1); // a[0] overdue: cut 1, to 1
    now += 10;
    const b = send(l, 1); // sent past the cut's window
    advance(now + 60); // b[0] overdue: cut 2
    expect(l.view).toMatchObject({ cuts: 2, losses: 2, limit: 1 });
    l.late(a[0]!); // the older first: it waits under cut 2
    expect(l.view).toMatchObject({ cuts: 2, losses: 1, limit: 1 });
    l.late(b[0]!); // both go
    expect(l.view).toMatchObject({ cuts: 0, losses: 0, limit: 16 });
    end(l, [...a.slice(0, 1), ...b], 'neutral');

    const c = send(l, 10);
    now += 1;
    end(l, c.slice(1), 'answer');
    advance(now + 200); // c[0] overdue (the guard learned 1.25 x 112 ms above): cut 3
    expect(l.view.cuts).toBe(1);
    now += 10;
    const refused = send(l, 1);
    l.ended(refused[0]!, 'loss'); // a REFUSED: cut 4, which cannot be taken back
    expect(l.view.cuts).toBe(2);
    l.late(c[0]!);
    expect(l.view).toMatchObject({ cuts: 2, losses: 1 });
    end(l, c.slice(0, 1), 'neutral');
  });

  it('a late answer counts only by its deadline, and teaches the guard at most 1 s', () => {
    const l = make();
    warm(l);
    const [a] = strand(l, 2, 1);
    now = 5000;
    l.late(a!, 4000); // past the try's timeout: it was lost, whatever came after
    expect(l.view).toMatchObject({ losses: 1, cuts: 1 });
    l.late(a!); // 5 s: late, but the guard stays at most 1 s
    expect(l.view).toMatchObject({ losses: 0, cuts: 0 });
    l.ended(a!, 'neutral');
    const [b] = send(l, 1);
    advance(now + 1002);
    expect(l.view.losses).toBe(1);
    l.ended(b!, 'drop');
  });

  it('a late answer to a try found overdue before the count of drops began again does not lift the dropping', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 16 });
    warm(l);
    const old = lastOverdue(l, 10)[9]!; // found overdue: one
    advance(3300); // past DROPPING_MS: the count starts again
    const t = send(l, 6);
    now += 1;
    end(l, t.slice(0, 3), 'answer');
    advance(now + 30); // three found overdue: dropping
    expect(l.dropping).toBe(true);
    l.late(old);
    expect(l.dropping).toBe(true);
    l.late(t[3]!); // one of these late: two left, no longer beyond doubt
    expect(l.dropping).toBe(false);
    end(l, t.slice(3), 'neutral');
    l.ended(old, 'neutral');
  });

  it('a late answer does not lift the dropping a timeout set, nor count at its deadline', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 16 });
    warm(l);
    const first = lastOverdue(l, 10); // first[9] found overdue
    advance(2000);
    l.ended(first[9]!, 'drop'); // and timed out (sent again twice already): dropping until 5,000
    advance(3100); // the count of tries found overdue starts again
    const t = send(l, 3);
    advance(now + 30); // three found overdue together
    l.late(t[0]!, now + 2000);
    expect(l.dropping).toBe(true); // the timeout's 3 s still run
    advance(5001);
    expect(l.dropping).toBe(false);
    l.late(t[1]!, now); // at its deadline: the try timed out then
    expect(l.view.losses).toBe(3);
    end(l, t, 'neutral');
  });

  it('a REFUSED to a try found overdue holds the cuts before it, as one to a fresh try does', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 16 });
    warm(l);
    const a = lastOverdue(l, 10); // a[9] overdue: cut A
    now += 10;
    const [b] = send(l, 1);
    advance(now + 30); // b overdue: cut B
    expect(l.view.cuts).toBe(2);
    l.ended(a[9]!, 'loss'); // the copy of a[9] on the wire (sent again twice already) refused
    l.late(b!);
    expect(l.view).toMatchObject({ cuts: 2, limit: 1 });
    l.ended(b!, 'neutral');
  });

  it('a try not found overdue is never late', () => {
    const l = make();
    warm(l);
    const [t] = send(l, 1);
    l.late(t!);
    expect(l.view).toMatchObject({ cuts: 0, losses: 0 });
    l.ended(t!, 'answer');
    expect(l.view.inFlight).toBe(0);
  });

  it('a try found overdue gives its room back at once, and cuts at the queries out when it was sent', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 16 });
    warm(l);
    const first = send(l, 8);
    now = 1;
    end(l, first.slice(1), 'answer'); // first[0] (sent with 1 in flight) is still out
    advance(15);
    const more = send(l, 13);
    advance(25); // first[0] (sent with 1 in flight) is overdue now
    expect(l.view).toMatchObject({ cuts: 1, losses: 1, inFlight: 13, limit: 1 });
    end(l, more, 'answer');
  });

  it('slow start ends at the first loss: a cut to 0.7x the queries in flight, then +1 per window', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 32 });
    const tickets = send(l, 30);
    // The 30th was sent with 30 in flight: loss began there.
    l.ended(tickets[29]!, 'loss');
    expect(l.view).toMatchObject({ limit: 21, edge: 30, cuts: 1, losses: 1 });
    end(l, tickets.slice(0, 29), 'answer');
    // Past the cut, growth is one step per window: 21 answers of tries sent at the limit add 1.
    end(l, send(l, 21), 'answer');
    expect(l.limit).toBeGreaterThan(21.9);
    expect(l.limit).toBeLessThan(22);
    end(l, send(l, 21), 'answer');
    expect(l.view.limit).toBe(22);
  });

  it('cuts at most once per window: tries sent before a cut cannot cut again', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 16 });
    const window = send(l, 16);
    end(l, window.slice(0, 4), 'loss');
    expect(l.view).toMatchObject({ cuts: 1, losses: 4 });
    expect(l.view.limit).toBe(Math.floor(1 * 0.7) || 1); // the first loss was sent with 1 in flight
    end(l, window.slice(4), 'loss');
    expect(l.view.cuts).toBe(1);
    // A try sent after the cut can cut again.
    end(l, send(l, 1), 'loss');
    expect(l.view.cuts).toBe(2);
  });

  it('no second cut from a try sent within an RTT of a cut: the server still held what the cut was for', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 20 });
    for (let i = 0; i < 16; i++) {
      const t = send(l, 1);
      now += 2;
      end(l, t, 'answer'); // RTT 2 ms
    }
    const window = send(l, 20);
    l.ended(window[19]!, 'loss'); // sent with 20 in flight: cut to 14
    expect(l.view).toMatchObject({ limit: 14, cuts: 1 });
    now += 0.5;
    end(l, window.slice(0, 7), 'loss'); // REFUSED at once: 13 left in flight, room for one
    const soon = send(l, 1);
    end(l, soon, 'loss'); // sent 0.5 ms after the cut, into a router still full
    expect(l.view).toMatchObject({ limit: 14, cuts: 1, losses: 9 });
    now += 2;
    end(l, window.slice(7, 8), 'answer');
    const later = send(l, 1);
    end(l, later, 'loss'); // sent an RTT after the cut: loss again, a second cut
    expect(l.view).toMatchObject({ cuts: 2, losses: 10 });
    end(l, window.slice(8, 19), 'answer');
  });

  it('a queue-bound server (its first REFUSED takes longer than its quickest answers and a fifth of an RTT): the edge is what it held, the most of the run of REFUSEDs, and the limit rests at the cut for 1 s', () => {
    /** Refusals that come back `refusedMs` after their send; the limit 900 ms and 1.1 s later. */
    const run = (refusedMs: number) => {
      const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 30 });
      const t0 = now;
      warmAt1ms(l);
      // 30 out; 9 answered, then three refused: ours ahead of them (with them) 19, then 20 and 19
      // (the first no longer out).
      const tickets = send(l, 30);
      now += refusedMs;
      end(l, tickets.slice(0, 9), 'answer');
      l.ended(tickets[27]!, 'loss'); // the cut
      const cut = l.view;
      end(l, [tickets[29]!, tickets[28]!], 'loss');
      const run = l.view;
      now += 2;
      end(l, tickets.slice(9, 27), 'answer');
      // Six windows answered within the millisecond: a window at a time up to the edge.
      for (let i = 0; i < 6; i++) end(l, send(l, Math.floor(l.limit)), 'answer');
      const soon = l.view.limit;
      // Windows answered at once, one every 10 ms, for 900 ms and then 200 ms more.
      const windows = (until: number) => {
        while (now < until) {
          now += 10;
          end(l, send(l, Math.floor(l.limit)), 'answer');
        }
      };
      windows(t0 + 940);
      const rested = l.view.limit;
      windows(t0 + 1140);
      return { cut, run, soon, rested, after: l.view.limit };
    };
    // Refused in 2 ms, twice the quickest answer: queue-bound at the first REFUSED. It held 18
    // besides it (19 - 1): the edge, cut to 0.7 x 18. The next REFUSED of the run had more ahead
    // of it (20: the first reading was low, as when answers the server sent after it are read
    // before it), and the edge rises to 19 without a second cut; the third (19) leaves it. The
    // limit rests at the cut for 1 s (0.7 x the edge, 13.3: up to 14 as the edge rose after the
    // cut), then grows past the edge.
    const queued = run(2);
    expect(queued.cut).toMatchObject({ limit: 12, edge: 18, cuts: 1 });
    expect(queued.run).toMatchObject({ limit: 12, edge: 19, cuts: 1 });
    expect(queued.soon).toBe(14);
    expect(queued.rested).toBe(14);
    expect(queued.after).toBeGreaterThan(19);
    // Refused in a tenth of an RTT (a router whose slots are held by its upstream), or in 0.9 ms,
    // under its quickest answer (a router a network round trip away): the edge is what was in
    // flight with the first (28), and growth past it is a window at a time.
    for (const refusedMs of [0.1, 0.9]) {
      const other = run(refusedMs);
      expect(other.cut).toMatchObject({ limit: 19, edge: 28, cuts: 1 });
      expect(other.run).toMatchObject({ limit: 19, edge: 28, cuts: 1 });
      expect(other.rested).toBeGreaterThan(60);
    }
  });

  it('a queue-bound server held at least half of what was in flight with the REFUSED that began the run (a reading lower than that is answers read ahead of it)', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 30 });
    warmAt1ms(l);
    // 30 out, 26 answered before the last one's REFUSED (in 2 ms) is read: 4 ahead of it, with it.
    const tickets = send(l, 30);
    now += 2;
    end(l, tickets.slice(0, 26), 'answer');
    l.ended(tickets[29]!, 'loss');
    expect(l.view).toMatchObject({ edge: 15, cuts: 1 });
    end(l, tickets.slice(26, 29), 'answer');
  });

  it('a queue-bound edge is never more than what was in flight with the try whose REFUSED cut', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 30 });
    warmAt1ms(l);
    // 30 out; the 10th refused first (in 2 ms, none answered: 10 ahead with it), then the 30th,
    // with 28 ahead: the router held no more than the 10th had in flight when it was sent.
    const tickets = send(l, 30);
    now += 2;
    l.ended(tickets[9]!, 'loss');
    expect(l.view).toMatchObject({ edge: 9, cuts: 1 });
    l.ended(tickets[29]!, 'loss');
    expect(l.view).toMatchObject({ edge: 10, cuts: 1 });
    end(l, [...tickets.slice(0, 9), ...tickets.slice(10, 29)], 'answer');
  });

  it('a slow REFUSED after a cut no REFUSED began (a timeout) begins a run of its own: the readings of an earlier run do not count, and the router held at least half of what the cut was for', () => {
    /** A timeout cut (the 16th of 20 sent, 16 in flight), then the 20th refused in 2 ms with `ahead` with it. */
    const edgeAfter = (l: AdaptiveLimit, ahead: number) => {
      const tickets = send(l, 20);
      now += 2;
      l.ended(tickets[15]!, 'drop');
      expect(l.view).toMatchObject({ edge: 16 });
      const others = tickets.filter((_, i) => i !== 15 && i !== 19);
      end(l, others.slice(0, 19 - ahead), 'answer');
      l.ended(tickets[19]!, 'loss');
      const { edge } = l.view;
      end(l, others.slice(19 - ahead), 'answer');
      return edge;
    };
    // A queue-bound run first (edge 20, as above), then 6 s later: 7 ahead of it, 6 held besides.
    const after = queueBound();
    // 6 s of windows answered in 1 ms, one every 10 ms: the limit grows past 20 again.
    for (const until = now + 6000; now < until; ) {
      const window = send(after, Math.floor(after.limit));
      now += 1;
      end(after, window, 'answer');
      now += 9;
    }
    expect(edgeAfter(after, 7)).toBe(8);
    // None before: 2 ahead (a query asked again beside one other) is taken as half of 16, not 1.
    const alone = make(100, { ...ADAPTIVE_DEFAULTS, initial: 30 });
    warmAt1ms(alone);
    expect(edgeAfter(alone, 2)).toBe(8);
  });

  it('a query asked again nearly alone into a queue-bound router still full is refused: the edge stays at what the router held', () => {
    const l = queueBound();
    // Two sent at once (one of them a query asked again after its backoff), the second refused in
    // 2 ms: it had 2 in flight with it, but the router held what the run of REFUSEDs says, not 2.
    const [lone, retry] = send(l, 2);
    now += 2;
    l.ended(retry!, 'loss');
    l.ended(lone!, 'answer');
    expect(l.view.edge).toBe(20);
  });

  it('REFUSEDs slower than the quickest answers but quick beside the answers round trip (a cache: hits in 1 ms, misses over a slow line) are not queue-bound', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 30 });
    warmAt1ms(l);
    // Misses of 40 ms bring the smoothed RTT to about 30 ms; the quickest answers stay at 1 ms.
    for (let i = 0; i < 16; i++) {
      const t = send(l, 1);
      now += 40;
      end(l, t, 'answer');
    }
    // 30 out; 9 answered, the last three refused in 2 ms (twice the quickest answer, a fifteenth
    // of the round trip): the edge is the 30 in flight.
    const tickets = send(l, 30);
    now += 2;
    end(l, tickets.slice(0, 9), 'answer');
    end(l, tickets.slice(27).reverse(), 'loss');
    end(l, tickets.slice(9, 27), 'answer');
    expect(l.view).toMatchObject({ limit: 21, edge: 30, cuts: 1 });
  });

  it('readings of a queue-bound server more than 5 s apart do not add up: each run of refusals is judged on its own', () => {
    /** Two slow REFUSEDs (2 ms, twice the quickest answer), and one quick (0.1 ms) `gapMs` later. */
    const edgeAfter = (gapMs: number) => {
      const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 30 });
      warmAt1ms(l);
      const round = (refusedMs: number) => {
        const tickets = send(l, Math.floor(l.limit));
        now += refusedMs;
        end(l, tickets.slice(0, 9), 'answer');
        return tickets.slice(9);
      };
      const first = round(2);
      end(l, first.slice(-2).reverse(), 'loss');
      end(l, first.slice(0, -2), 'answer');
      now += gapMs;
      const second = round(0.1);
      end(l, second.slice(-1), 'loss');
      end(l, second.slice(0, -1), 'answer');
      // Growth for 300 ms, a window every 10 ms.
      for (let i = 0; i < 30; i++) {
        now += 10;
        end(l, send(l, Math.floor(l.limit)), 'answer');
      }
      return l.view;
    };
    // 6 s later, the quick REFUSED is judged alone: the edge is what was in flight with it, and
    // growth past it is a window at a time.
    const apart = edgeAfter(6000);
    expect(apart.limit).toBeGreaterThan(apart.edge!);
    // 4 s later, with the two before it (the median is slow): queue-bound, and the limit rests.
    const close = edgeAfter(4000);
    expect(close.limit).toBeLessThanOrEqual(close.edge!);
  });

  it('never goes below 1, and a shrinking limit does not preempt tries in flight', () => {
    const l = make();
    const inFlight = send(l, 8);
    end(l, inFlight.slice(7), 'loss');
    expect(l.gate.limit).toBeLessThan(8);
    expect(l.gate.tokens).toBe(0); // 7 still out, none taken back
    end(l, inFlight.slice(0, 7), 'neutral');
    for (let i = 0; i < 20; i++) end(l, send(l, 1), 'loss');
    expect(l.view.limit).toBe(1);
    expect(l.gate.limit).toBe(1);
  });

  it('neutral tries count for nothing', () => {
    const l = make();
    end(l, send(l, 8), 'neutral');
    expect(l.view).toMatchObject({ limit: 8, losses: 0, cuts: 0 });
    expect(l.view.rttMs).toBeUndefined();
  });

  it('remembers the edge for edgeMs, then forgets it and grows fast again', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 16, edgeMs: 1000 });
    const tickets = send(l, 16);
    end(l, tickets.slice(15), 'loss'); // edge 16, limit 11
    end(l, tickets.slice(0, 15), 'neutral');
    expect(l.view).toMatchObject({ limit: 11, edge: 16 });
    now = 999;
    expect(l.view.edge).toBe(16);
    now = 1000;
    expect(l.view.edge).toBeUndefined();
    end(l, send(l, 11), 'answer'); // slow start again: a period begins, from 11.2
    expect(l.view.limit).toBe(12);
    now = 1019;
    end(l, send(l, 12), 'answer'); // +1 per answer, to ceil(11.2 * 1.95)
    expect(l.view.limit).toBe(22);
  });

  it('a REFUSED to a try sent alone is the server policy; with company, congestion', () => {
    const l = make();
    const [alone] = send(l, 1);
    expect(l.isPolicy(alone!)).toBe(true);
    const [second] = send(l, 1);
    expect(l.isPolicy(second!)).toBe(false);
  });

  it('a REFUSED with company: isolated once a try sent after it is answered; refused again then, policy', () => {
    const l = make();
    const first = send(l, 8);
    const b = first[7]!;
    expect(l.refusal(b, null)).toBe('congestion');
    l.ended(b, 'loss');
    expect(l.view).toMatchObject({ losses: 1, cuts: 1, limit: 5 });
    expect(b.isolated).toBeUndefined();
    // Those sent before the REFUSED came: their answers say nothing of it.
    end(l, first.slice(0, 7), 'answer');
    expect(b.isolated).toBeUndefined();
    const [c] = send(l, 1);
    expect(l.gate.tryAcquire()).toBe(true);
    const retry = l.sent(null, false, true);
    // One asked for the first time, answered, says the REFUSED was isolated.
    l.ended(c!, 'answer');
    expect(b.isolated).toBe(true);
    // The query asked again and refused again, with company: policy, no loss.
    expect(l.refusal(retry, b)).toBe('again');
    l.ended(retry, 'neutral');
    expect(l.view).toMatchObject({ losses: 1, cuts: 1 });
  });

  it('a REFUSED followed by another (the router full: the room it gave back was sent into at once) is not isolated', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 40 });
    const first = send(l, 30);
    const b = first[29]!;
    expect(l.refusal(b, null)).toBe('congestion');
    l.ended(b, 'loss');
    end(l, first.slice(0, 29), 'answer');
    const [x] = send(l, 1);
    expect(l.gate.tryAcquire()).toBe(true);
    const retry = l.sent(null, false, true);
    const [c, y] = send(l, 2);
    // A query asked again after a REFUSED says nothing of the REFUSED before (it goes ahead of
    // those not sent yet); one asked for the first time does.
    expect(l.refusal(retry, b)).toBe('congestion');
    l.ended(retry, 'loss');
    expect(b.isolated).toBeUndefined();
    expect(l.refusal(c!, null)).toBe('congestion');
    l.ended(c!, 'loss');
    expect(b.isolated).toBe(false);
    // Asked again and refused again: not policy.
    expect(l.refusal(y!, b)).toBe('congestion');
    l.ended(y!, 'loss');
    l.ended(x!, 'answer');
  });

  it('REFUSEDs with company are forgiven below the edge at the share of policy REFUSEDs lately, up to 3 at once', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 40 });
    // Cut at 30 in flight: the edge is 30, the limit 21.
    const first = send(l, 30);
    expect(l.refusal(first[29]!, null)).toBe('congestion');
    l.ended(first[29]!, 'loss');
    expect(l.view).toMatchObject({ edge: 30, limit: 21 });
    end(l, first.slice(0, 29), 'answer');
    // 10 policy REFUSEDs (alone) in the next 100 sends: a share of 10 in 131.
    for (let i = 0; i < 10; i++) {
      const [alone] = send(l, 1);
      expect(l.refusal(alone!, null)).toBe('alone');
      l.ended(alone!, 'neutral');
      end(l, send(l, 9), 'answer');
    }
    const tickets = send(l, 21);
    // Credit: 1.5 x the share so far per send, at most 3; a REFUSED below the edge takes one.
    expect(l.refusal(tickets[5]!, null)).toBe('forgiven');
    expect(l.refusal(tickets[6]!, null)).toBe('forgiven');
    expect(l.refusal(tickets[7]!, null)).toBe('forgiven');
    expect(l.refusal(tickets[8]!, null)).toBe('congestion');
    end(l, tickets, 'answer');
    // None at or past the edge, whatever the credit: the limit climbs back to it a window at a time.
    while (l.view.limit < 30) end(l, send(l, l.view.limit), 'answer');
    const more = send(l, 30);
    expect(more[29]!.inFlight).toBe(30);
    expect(l.refusal(more[29]!, null)).toBe('congestion');
    expect(l.refusal(more[20]!, null)).toBe('forgiven');
  });

  it('without a policy REFUSED seen, a REFUSED with company is congestion', () => {
    const l = make();
    for (let i = 0; i < 50; i++) {
      const tickets = send(l, 3);
      expect(l.refusal(tickets[2]!, null)).toBe('congestion');
      l.ended(tickets[2]!, 'neutral');
      end(l, tickets.slice(0, 2), 'answer');
    }
  });

  it('the guard judges only once 16 answers have given an RTT estimate (a cold router is slow at first)', () => {
    const l = make();
    for (let i = 0; i < 15; i++) end(l, send(l, 1), 'answer');
    const [old] = send(l, 1);
    advance(200);
    expect(l.view.losses).toBe(0);
    end(l, send(l, 1), 'answer'); // the 16th
    advance(260);
    expect(l.view.losses).toBe(1);
    l.ended(old!, 'drop');
  });

  it('a guard timer that fires late (the loop was busy) looks again, until one fires on time', () => {
    const l = make();
    warm(l);
    const [out] = send(l, 1); // a timer is due at 25 ms
    /** Runs every pending timer at `t`, late if it was due earlier. */
    const fireAt = (t: number) => {
      now = t;
      for (const timer of timers.splice(0)) timer.fn();
    };
    fireAt(100); // 75 ms late: the answer may wait unread
    expect(l.view.losses).toBe(0);
    fireAt(110); // its 1 ms recheck, 9 ms late: still busy
    expect(l.view.losses).toBe(0);
    advance(111); // on time: judged now
    expect(l.view.losses).toBe(1);
    l.ended(out!, 'drop');
  });

  it('tries found overdue together cut once, where the drops began (the oldest of them)', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 16 });
    warm(l);
    const before = send(l, 4); // answered
    now = 5;
    const out = send(l, 10); // sent with 5 to 14 in flight
    end(l, before, 'answer');
    advance(60);
    expect(l.view).toMatchObject({ losses: 10, cuts: 1, edge: 5, limit: 3 });
    end(l, out, 'drop');
  });

  it('does not grow while a try has been out past 10 ms (and 2 RTT + 4 deviations): it may be dropped', () => {
    const l = make();
    const first = send(l, 8);
    now = 1;
    end(l, first.slice(1), 'answer'); // RTT 1 ms: ceil(8 * 1.05); first[0] is still out
    expect(l.view.limit).toBe(9);
    now = 11; // first[0] out for 11 ms
    end(l, send(l, 8), 'answer'); // the limit reached, but no growth
    expect(l.view.limit).toBe(9);
    end(l, first.slice(0, 1), 'answer'); // grows again
    expect(l.view.limit).toBe(10);
    end(l, send(l, 10), 'answer');
    expect(l.view.limit).toBe(13); // to ceil(8 * 1.55)
  });

  it('below an edge where tries timed out, grows at most one step per hold time (10 ms)', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 20 });
    const tickets = send(l, 20);
    l.ended(tickets[19]!, 'drop'); // timed out with 20 in flight: edge 20, limit 14
    end(l, tickets.slice(0, 19), 'neutral');
    expect(l.view).toMatchObject({ limit: 14, edge: 20 });
    // Five windows answered in the same millisecond: one step, not five (a window at loopback
    // speed is a millisecond, a drop holds growth only after 10).
    for (let i = 0; i < 5; i++) end(l, send(l, Math.floor(l.limit)), 'answer');
    expect(l.view.limit).toBe(15);
    now = 9;
    for (let i = 0; i < 5; i++) end(l, send(l, Math.floor(l.limit)), 'answer');
    expect(l.view.limit).toBe(15);
    now = 10;
    for (let i = 0; i < 5; i++) end(l, send(l, Math.floor(l.limit)), 'answer');
    expect(l.view.limit).toBe(16);
    // And never up to the edge while it is remembered.
    for (let i = 0; i < 50; i++) {
      now += 10;
      end(l, send(l, Math.floor(l.limit)), 'answer');
    }
    expect(l.view).toMatchObject({ limit: 19, edge: 20 });
  });

  it('one try found overdue at each of three probes is a router dropping: the limit then keeps under the edge', () => {
    const l = make(100, { ...ADAPTIVE_DEFAULTS, initial: 16 });
    warm(l);
    /** Sends a window at the limit, answers all but its last, which the guard then finds overdue. */
    const probe = () => {
      const n = Math.floor(l.limit);
      const tickets = send(l, n);
      now += 1;
      end(l, tickets.slice(0, n - 1), 'answer');
      advance(now + 60);
      l.ended(tickets[n - 1]!, 'neutral');
    };
    const edges: Array<number | undefined> = [];
    for (let i = 0; i < 3; i++) {
      probe();
      edges.push(l.view.edge);
    }
    expect(l.view.cuts).toBe(3);
    const edge = edges[2]!;
    // Windows answered 20 ms apart: growth stops one below the edge.
    for (let i = 0; i < 100; i++) {
      now += 20;
      end(l, send(l, Math.floor(l.limit)), 'answer');
    }
    expect(l.view).toMatchObject({ limit: edge - 1, edge });
    // 3 s after the last drop the router no longer counts as dropping: growth probes past the
    // edge again, one step per window.
    now += 1000;
    for (let i = 0; i < 3; i++) end(l, send(l, Math.floor(l.limit)), 'answer');
    expect(l.view.limit).toBeGreaterThan(edge);
  });

  it('tells the owner of a try found overdue, then gives its room back: a retry queued first gets it', async () => {
    const l = make(8);
    const seen: TryTicket[] = [];
    const order: string[] = [];
    const owner = {
      overdue: (t: TryTicket) => {
        seen.push(t);
        void l.gate.acquire({ first: true }).then(() => order.push('retry'));
      },
    };
    warm(l);
    expect(l.gate.tryAcquire()).toBe(true);
    const dropped = l.sent(owner);
    now = 10;
    const rest = send(l, 7); // the gate is full
    void l.gate.acquire().then(() => order.push('new'));
    advance(25); // dropped is overdue (guard 20 ms), the rest are not
    expect(seen).toEqual([dropped]);
    expect(l.view).toMatchObject({ limit: 1, inFlight: 7, losses: 1 });
    end(l, rest, 'answer'); // room under the limit again (and growth): for the retry first
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['retry', 'new']);
    l.ended(dropped, 'drop'); // its timeout, later: counted once
    expect(l.view.losses).toBe(1);
  });

  it('an answer to a retransmission, or to a try out while the event loop stalled, is no RTT sample', () => {
    const l = make();
    expect(l.gate.tryAcquire()).toBe(true);
    const again = l.sent(null, true);
    now = 5;
    l.ended(again, 'answer');
    expect(l.view.rttMs).toBeUndefined();
    const [stalled] = send(l, 1); // the controller's timer is due at 30
    now = 230; // the loop was busy: the timer runs 200 ms late
    const late = timers.splice(0);
    for (const t of late) t.fn();
    l.ended(stalled!, 'answer');
    expect(l.view.rttMs).toBeUndefined();
    const [fresh] = send(l, 1);
    now = 232;
    l.ended(fresh!, 'answer');
    expect(l.view.rttMs).toBe(2);
  });

  it('smooths the RTT of answers (1/8 per answer)', () => {
    const l = make();
    const [a] = send(l, 1);
    now = 8;
    end(l, [a!], 'answer');
    expect(l.view.rttMs).toBe(8);
    const [b] = send(l, 1);
    now = 24;
    end(l, [b!], 'answer');
    expect(l.view.rttMs).toBe(9);
  });
});

describe('the resolver with the adaptive gate', () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  const names = (n: number) => Array.from({ length: n }, (_, i) => `n${i}.example.test`);
  const wildcardZone = [ZONE, ...names(400).map((n) => `${n}. 60 MX 10 mx.example.test.`)].join('\n');

  /** A router model: holds each query 5 ms, and REFUSES at once past `capacity` held. */
  async function refusingWhenFull(capacity: number) {
    let holding = 0;
    let peak = 0;
    const server = await startTestServer({
      zone: wildcardZone,
      handler: async (q) => {
        if (holding >= capacity) return { id: q.id, type: 'response', flags: 0x8005, questions: q.questions };
        peak = Math.max(peak, ++holding);
        await new Promise((r) => setTimeout(r, 5));
        holding--;
        return undefined;
      },
    });
    servers.push(server);
    return { server, peak: () => peak };
  }

  it('a router that refuses past 5 in flight: 400 lookups at a ceiling of 100 lose none', async () => {
    const { server, peak } = await refusingWhenFull(5);
    const r = new Resolver({ servers: [server.server], concurrency: 100, coalesce: false });
    const results = await Promise.allSettled(names(400).map((n) => r.resolveMx(n)));
    expect(results.filter((x) => x.status === 'rejected')).toEqual([]);
    expect(peak()).toBeLessThanOrEqual(5);
    const [view] = r.limits;
    expect(view).toMatchObject({ server: server.server, ceiling: 100 });
    expect(view!.cuts).toBeGreaterThan(0);
    expect(view!.limit).toBeLessThanOrEqual(12);
    // Refused tries are a small share of what was sent.
    expect(r.stats.sent - 400).toBeLessThan(0.25 * 400);
  });

  // A router that blocks some names by policy: REFUSED whatever its load (AdGuard Home's "refused"
  // blocking mode, unbound's `local-zone: ... refuse`), with room for everything else.
  it('a router that refuses 1 name in 20 by policy: those end EREFUSED, the rest are answered, and their REFUSEDs asked again are not loss', async () => {
    const server = await startTestServer({
      zone: wildcardZone,
      handler: async (q) => {
        const n = Number(/^n(\d+)\./.exec(q.questions?.[0]?.name ?? '')?.[1]);
        if (n % 20 === 7) return { id: q.id, type: 'response', flags: 0x8005, questions: q.questions };
        await new Promise((r) => setTimeout(r, 5));
        return undefined;
      },
    });
    servers.push(server);
    const r = new Resolver({ servers: [server.server], concurrency: 32, coalesce: false });
    const results = await Promise.allSettled(names(400).map((n) => r.resolveMx(n)));
    const refused = results.flatMap((x, i) => (x.status === 'rejected' ? [i] : []));
    expect(refused).toEqual(names(400).flatMap((_, i) => (i % 20 === 7 ? [i] : [])));
    for (const i of refused) expect((results[i] as PromiseRejectedResult).reason.code).toBe('EREFUSED');
    // Each of the 20 counts as loss for its first REFUSED at most (before the server has been seen
    // refusing a name again), not each time it is asked with company (before: 40 of them).
    expect(r.limits[0]!.losses).toBeLessThanOrEqual(30);
  });

  it('the fixed gate (adaptive: false) at the same ceiling loses lookups there', async () => {
    const { server } = await refusingWhenFull(5);
    const r = new Resolver({
      servers: [server.server],
      concurrency: 100,
      coalesce: false,
      adaptive: false,
      tries: 1,
    });
    const results = await Promise.allSettled(names(400).map((n) => r.resolveMx(n)));
    expect(results.filter((x) => x.status === 'rejected').length).toBeGreaterThan(0);
    expect(r.limits).toEqual([]);
  });

  /** A server that refuses everything, and a resolver (tries 2, backoff 1 ms) in front of it. */
  async function refusingAll(concurrency: number) {
    const server = await startTestServer({ zone: ZONE, script: rcode('REFUSED') });
    servers.push(server);
    const r = new Resolver({ servers: [server.server], concurrency, adaptive: { backoffMs: 1 }, tries: 2 });
    return { server, r };
  }

  it('a server that refuses everything: every lookup ends EREFUSED within its tries, never a hang', async () => {
    const { server, r } = await refusingAll(50);
    const started = performance.now();
    const results = await Promise.allSettled(names(50).map((n) => r.resolveMx(n)));
    expect(performance.now() - started).toBeLessThan(5000);
    for (const x of results) {
      expect(x.status).toBe('rejected');
      expect((x as PromiseRejectedResult).reason).toBeInstanceOf(DnsError);
      expect((x as PromiseRejectedResult).reason.code).toBe('EREFUSED');
    }
    // At most 2 x tries refusals for congestion, and 3 as policy, per lookup.
    expect(server.stats.queries).toBeLessThanOrEqual(50 * (2 * 2 + 3));
  });

  it('resolveEach against a server that refuses everything: every item ends EREFUSED, never a hang', async () => {
    const { r } = await refusingAll(4);
    const codes: unknown[] = [];
    // Before, the run held all 4 permits for queries refused, and each waited for a second one.
    for await (const item of r.resolveEach(names(20), 'MX')) codes.push(item.ok ? 'ok' : item.error);
    expect(codes).toHaveLength(20);
    for (const c of codes) expect(c).toMatchObject({ code: 'EREFUSED' });
  }, 10_000);

  it('a REFUSED to a query alone: asked twice more after a backoff, then final (policy)', async () => {
    const server = await startTestServer({ zone: ZONE, script: rcode('REFUSED') });
    servers.push(server);
    const r = new Resolver({ servers: [server.server], tries: 4 });
    await expect(r.resolveMx('example.test')).rejects.toMatchObject({ code: 'EREFUSED' });
    expect(server.stats.queries).toBe(3);
    expect(r.limits[0]).toMatchObject({ losses: 0, cuts: 0 });
  });

  it('a REFUSED to a query alone, with another server: that one is asked at once, as without the gate', async () => {
    const refusing = await startTestServer({ zone: ZONE, script: rcode('REFUSED') });
    const good = await startTestServer({ zone: ZONE });
    servers.push(refusing, good);
    const r = new Resolver({ servers: [refusing.server, good.server] });
    expect(await r.resolveMx('example.test')).toHaveLength(2);
    expect(refusing.stats.queries).toBe(1);
  });

  it('one silent server of two: its limit is cut, the other answers, and keeps its own limit', async () => {
    const dead = await startTestServer({ zone: ZONE, script: silent() });
    const good = await startTestServer({ zone: wildcardZone });
    servers.push(dead, good);
    const r = new Resolver({ servers: [dead.server, good.server], timeout: 50, tries: 2, coalesce: false });
    const results = await Promise.allSettled(names(60).map((n) => r.resolveMx(n)));
    expect(results.filter((x) => x.status === 'rejected')).toEqual([]);
    const [a, b] = r.limits;
    expect(a).toMatchObject({ server: dead.server });
    expect(a!.losses).toBeGreaterThan(0);
    expect(a!.limit).toBeLessThan(8);
    expect(b).toMatchObject({ server: good.server, losses: 0, cuts: 0 });
    // Passed over while full, the silent server was not asked by every lookup.
    expect(dead.stats.queries).toBeLessThan(60);
  });

  // A home router answers from its cache at once and forwards a miss upstream. Misses slower than
  // the guard's 20 ms floor are found overdue at first, and sent again under a new ID; the answers
  // to the copies found overdue show them late, each cut is taken back and the guard learns the
  // wait. Before, every miss past the floor was a drop: 70 and 150 ms took the limit to 1 (at a
  // 50 ms floor), and 40 ms too at a floor of 20.
  it.each([40, 70, 150])(
    'a router whose cache misses take %i ms (1 name in 10) is not taken for one that drops: the limit stays up',
    async (missMs) => {
      const server = await startTestServer({
        zone: wildcardZone,
        handler: async (q) => {
          const n = Number(/^n(\d+)\./.exec(q.questions?.[0]?.name ?? '')?.[1] ?? 0);
          if (n % 10 === 9) await new Promise((r) => setTimeout(r, missMs)); // forwarded upstream
          return undefined;
        },
      });
      servers.push(server);
      const r = new Resolver({ servers: [server.server], concurrency: 16, coalesce: false });
      const results = await Promise.allSettled(names(400).map((n) => r.resolveMx(n)));
      expect(results.filter((x) => x.status === 'rejected')).toEqual([]);
      const [view] = r.limits;
      expect(view!.losses).toBeLessThanOrEqual(2); // a busy machine may make one late
      expect(view!.cuts).toBeLessThanOrEqual(1);
      expect(view!.limit).toBeGreaterThanOrEqual(8);
      expect(r.stats.skipped).toBe(0);
    },
  );

  it('a try found overdue goes again on the same socket under a new ID, answered long before its timeout (virtual time)', async () => {
    const copies: Array<{ id: number; port: number }> = [];
    const server = await startTestServer({
      zone: ZONE,
      handler: (q, ctx) => {
        if (q.questions?.[0]?.name !== 'onlya.example.test') return undefined;
        copies.push({ id: q.id!, port: ctx.rinfo.port });
        return copies.length === 1 ? null : undefined; // the first copy is dropped, as by a full router
      },
    });
    servers.push(server);
    const clock = new FakeClock();
    const r = new Resolver({ servers: [server.server], runtime: { clock }, socketReuse: 100 });
    for (let i = 0; i < 16; i++) await r.resolveMx('example.test'); // round trips for the RTT estimate
    let answer: unknown;
    const call = r.resolve4('onlya.example.test').then((a) => {
      answer = a;
    });
    for (let t = 0; t < 100 && answer === undefined; t++) {
      await clock.advance(1);
      await new Promise((done) => setTimeout(done, 1));
    }
    await call;
    expect(answer).toEqual(['192.0.2.1']);
    // Found overdue at the guard's 20 ms floor, far from the 2 s timeout.
    expect(clock.now()).toBeGreaterThanOrEqual(20);
    expect(clock.now()).toBeLessThan(50);
    expect(copies).toHaveLength(2);
    expect(copies[1]!.port).toBe(copies[0]!.port);
    expect(copies[1]!.id).not.toBe(copies[0]!.id);
    expect(r.stats).toMatchObject({ sent: 18, timeouts: 0 });
    // The first copy was dropped: the loss and the cut stand.
    expect(r.limits[0]).toMatchObject({ losses: 1, cuts: 1, inFlight: 0 });
  });

  for (const order of ['first copy first', 'copy first'] as const) {
    it(`a try found overdue whose first copy is answered after all was late: the loss and the cut are taken back (${order}, virtual time)`, async () => {
      // Both copies held until released, then answered in the order given (unbound answers the
      // later copy first, dnsmasq the first); a third copy is dropped.
      const first = deferred();
      const copy = deferred();
      const { view, moves, seen, skipped } = await overdueRun(
        async (n) => {
          if (n > 1) return null;
          await (n === 0 ? first : copy).promise;
          return undefined;
        },
        2,
        () => {
          const [a, b] = order === 'copy first' ? [copy, first] : [first, copy];
          a.resolve();
          setTimeout(b.resolve, 10);
        },
      );
      expect(seen).toBeGreaterThanOrEqual(2);
      expect(view).toMatchObject({ losses: 0, cuts: 0, inFlight: 0 });
      expect(view.limit).toBeGreaterThanOrEqual(8); // not the 1 the cut took it to
      expect(moves[0]).toBe('cut');
      expect(moves).toContain('undo');
      expect(skipped).toBe(0); // the later answer is no forgery
    });
  }

  /** A test server whose answers to onlya.example.test `script` gives, by copy (0 for the first). */
  async function onlyaServer(script: (copy: number, q: Packet) => HandlerResult | Promise<HandlerResult>) {
    let seen = 0;
    const server = await startTestServer({
      zone: ZONE,
      handler: (q) => (q.questions?.[0]?.name === 'onlya.example.test' ? script(seen++, q) : undefined),
    });
    servers.push(server);
    return { server: server.server, seen: () => seen };
  }

  /**
   * 16 round trips for the RTT estimate, then one query for onlya.example.test whose copies the
   * `script` answers (its index: 0 for the first): steps the fake clock until `copies` copies came
   * and 25 ms more (the guard's floor is 20), then lets `release` go and awaits the answer.
   */
  async function overdueRun(
    script: (copy: number, q: Packet) => HandlerResult | Promise<HandlerResult>,
    copies: number,
    release: () => void = () => {},
  ) {
    const { server, seen } = await onlyaServer(script);
    const moves: string[] = [];
    const onLimit = (m: unknown) => moves.push((m as { reason: string }).reason);
    subscribe('dnsgate:gate:limit', onLimit);
    try {
      const clock = new FakeClock();
      const r = new Resolver({ servers: [server], runtime: { clock }, socketReuse: 100 });
      for (let i = 0; i < 16; i++) await r.resolveMx('example.test');
      const call = r.resolve4('onlya.example.test');
      for (let t = 0; t < 200 && seen() < copies; t++) {
        await clock.advance(1);
        await new Promise((done) => setTimeout(done, 1));
      }
      for (let t = 0; t < 25; t++) await clock.advance(1);
      release();
      expect(await call).toEqual(['192.0.2.1']);
      await new Promise((done) => setTimeout(done, 20)); // a late answer after the try's end
      return { view: r.limits[0]!, moves, seen: seen(), skipped: r.stats.skipped };
    } finally {
      unsubscribe('dnsgate:gate:limit', onLimit);
    }
  }

  it('a router that holds the first copy and drops the copies (full): only the first was late, the cuts stand (virtual time)', async () => {
    const { promise: held, resolve: answerFirst } = deferred();
    const { view, moves, seen } = await overdueRun(
      async (copy) => {
        if (copy > 0) return null; // dropped: the router is full
        await held;
        return undefined;
      },
      3,
      () => answerFirst(),
    );
    expect(seen).toBe(3);
    // The first copy late; both copies dropped, and counted.
    expect(view).toMatchObject({ losses: 2, inFlight: 0 });
    expect(view.cuts).toBeGreaterThanOrEqual(1);
    expect(moves).not.toContain('undo');
  });

  it('a copy found overdue on the wire last, answered after all: late too (virtual time)', async () => {
    const { promise: held, resolve: answerLast } = deferred();
    const { view } = await overdueRun(
      async (copy) => {
        if (copy < 2) return null; // the first two dropped
        await held; // the third (sent again twice already) answered once it too was overdue
        return undefined;
      },
      3,
      () => answerLast(),
    );
    expect(view).toMatchObject({ losses: 2, inFlight: 0 });
  });

  it('a caller who gave up keeps the late credit: the copy on the wire last, answered after all (virtual time)', async () => {
    const last = deferred();
    const { server, seen } = await onlyaServer(async (copy) => {
      if (copy < 2) return null; // the first two copies dropped
      await last.promise;
      return undefined;
    });
    const clock = new FakeClock();
    const r = new Resolver({ servers: [server], runtime: { clock }, socketReuse: 100 });
    for (let i = 0; i < 16; i++) await r.resolveMx('example.test');
    const caller = new AbortController();
    const call = r.resolve4('onlya.example.test', { signal: caller.signal }).catch((e: DnsError) => e.code);
    for (let t = 0; t < 200 && seen() < 3; t++) {
      await clock.advance(1);
      await new Promise((done) => setTimeout(done, 1));
    }
    for (let t = 0; t < 25; t++) await clock.advance(1); // the third copy found overdue too
    caller.abort();
    expect(await call).toBe('ECANCELLED');
    expect(r.limits[0]!.losses).toBe(3);
    last.resolve(); // its answer comes to the query still on the wire
    for (let i = 0; i < 50 && r.limits[0]!.losses > 2; i++) await new Promise((done) => setTimeout(done, 1));
    expect(r.limits[0]).toMatchObject({ losses: 2, inFlight: 0 });
  });

  it('an answer to the first copy once the try has timed out is not late (virtual time)', async () => {
    const first = deferred();
    const { server } = await onlyaServer(async (copy) => {
      if (copy > 0) return null; // the copies dropped
      await first.promise;
      return undefined;
    });
    const clock = new FakeClock();
    const r = new Resolver({ servers: [server], runtime: { clock }, tries: 1, timeout: 300 });
    for (let i = 0; i < 16; i++) await r.resolveMx('example.test');
    let code = 'pending';
    const call = r.resolve4('onlya.example.test').catch((e: DnsError) => {
      code = e.code;
    });
    for (let t = 0; t < 1000 && code === 'pending'; t++) {
      await clock.advance(1);
      await new Promise((done) => setTimeout(done, 1));
    }
    expect(code).toBe('ETIMEOUT');
    const { losses } = r.limits[0]!;
    first.resolve(); // its answer leaves now, the clock standing still
    await new Promise((done) => setTimeout(done, 30));
    await call;
    expect(r.limits[0]!.losses).toBe(losses);
  });

  for (const mode of ['a bare FORMERR', 'another question, then the answer'] as const) {
    it(`a late message to the first copy after the copy's answer: ${mode} (virtual time)`, async () => {
      const { promise: held, resolve: answerFirst } = deferred();
      const { view, moves } = await overdueRun(
        async (copy, q) => {
          if (copy > 0) return undefined; // the copy: answered at once, which ends the try
          await held;
          const id = q.id!;
          if (mode === 'a bare FORMERR')
            return Buffer.from([id >> 8, id & 0xff, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
          const other = { ...q, type: 'response' as const, flags: 0x8000 };
          other.questions = [{ name: 'other.example.test', type: 'A', class: 'IN' }];
          return [other, undefined];
        },
        2,
        () => answerFirst(),
      );
      // No question: no sign the router held it. Another question does not use up the watch.
      expect(moves.includes('undo')).toBe(mode !== 'a bare FORMERR');
      expect(view.losses).toBe(mode === 'a bare FORMERR' ? 1 : 0);
    });
  }

  it('a query refused for congestion is asked again after 4 RTTs of its server, not the 20 ms most (virtual time)', async () => {
    let refusals = 0;
    let asked = 0;
    const server = await startTestServer({
      zone: ZONE,
      handler: async (q) => {
        if (q.questions?.[0]?.name === 'example.test') {
          await new Promise((done) => setTimeout(done, 30)); // real time: keeps it in flight
          return undefined;
        }
        asked++;
        if (refusals++ > 0) return undefined;
        return { id: q.id, type: 'response', flags: 0x8005, questions: q.questions };
      },
    });
    servers.push(server);
    const clock = new FakeClock();
    const r = new Resolver({ servers: [server.server], runtime: { clock } });
    await r.resolveMx('example.test'); // RTT 0 ms on this clock
    const held = r.resolveMx('example.test');
    const call = r.resolve4('onlya.example.test'); // sent with company: congestion
    for (let i = 0; i < 200 && refusals === 0; i++) await new Promise((done) => setTimeout(done, 1));
    await new Promise((done) => setTimeout(done, 10));
    expect(asked).toBe(1);
    await clock.advance(2); // the backoff: 1 ms (4 RTTs, at least 1) with jitter, at most 1.5 ms
    expect(await call).toEqual(['192.0.2.1']);
    expect(asked).toBe(2);
    await held;
  });

  it('publishes each move of the limit on dnsgate:gate:limit', async () => {
    const { server } = await refusingWhenFull(3);
    const moves: Array<{ server: string; limit: number; reason: string }> = [];
    const onLimit = (m: unknown) => moves.push(m as (typeof moves)[number]);
    subscribe('dnsgate:gate:limit', onLimit);
    try {
      const r = new Resolver({ servers: [server.server], concurrency: 64, coalesce: false });
      await Promise.allSettled(names(200).map((n) => r.resolveMx(n)));
    } finally {
      unsubscribe('dnsgate:gate:limit', onLimit);
    }
    expect(moves.some((m) => m.reason === 'cut')).toBe(true);
    expect(moves.some((m) => m.reason === 'grow')).toBe(true);
    for (const m of moves) expect(m.server).toBe(server.server);
  });

  it.each([
    [{ initial: 0 }, /adaptive\.initial/],
    [{ decrease: 1 }, /adaptive\.decrease/],
    [{ decrease: 0.05 }, /adaptive\.decrease/],
    [{ edgeMs: -1 }, /adaptive\.edgeMs/],
    [{ backoffMs: 0 }, /adaptive\.backoffMs/],
  ])('adaptive %o is a RangeError naming the option', (adaptive, message) => {
    expect(() => new Resolver({ servers: ['127.0.0.1:53'], adaptive })).toThrow(RangeError);
    expect(() => new Resolver({ servers: ['127.0.0.1:53'], adaptive })).toThrow(message);
  });

  it('an unknown adaptive option or a wrong type is a TypeError', () => {
    expect(() => new Resolver({ servers: ['127.0.0.1:53'], adaptive: { inital: 4 } as never })).toThrow(
      /Unknown adaptive option "inital"/,
    );
    expect(() => new Resolver({ servers: ['127.0.0.1:53'], adaptive: 'on' as never })).toThrow(TypeError);
  });
});
