// A clock a test drives: time stands still until the test advances it.

interface FakeTimer {
  due: number;
  seq: number;
  fn: (() => void) | null;
  ref(): FakeTimer;
  unref(): FakeTimer;
}

/**
 * A clock for `new Resolver({ runtime: { clock } })` that only moves when told: timeouts,
 * deadlines, the rate and the idle sweep run in virtual time, so a test of a 2-second timeout takes
 * no 2 seconds, and what is due fires in due order at its virtual millisecond (the timer list, as
 * with real timers, also takes what is due within the next millisecond). Sockets stay
 * real: answers arrive when they arrive.
 *
 * @example
 * ```ts
 * import { Resolver } from 'dnsgate';
 * import { FakeClock } from 'dnsgate/testing';
 * const clock = new FakeClock();
 * const resolver = new Resolver({ servers: ['127.0.0.1:5353'], timeout: 1000, runtime: { clock } });
 * const pending = resolver.resolveMx('example.com');
 * await clock.advance(1000); // the first try times out now, and the second is sent
 * ```
 */
export class FakeClock {
  #now = 0;
  #seq = 0;
  #timers: FakeTimer[] = [];

  /** Virtual milliseconds since the clock was made. */
  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): FakeTimer {
    const timer: FakeTimer = {
      due: this.#now + Math.max(0, ms),
      seq: this.#seq++,
      fn,
      ref: () => timer,
      unref: () => timer,
    };
    this.#timers.push(timer);
    return timer;
  }

  clearTimeout(timer: unknown): void {
    const t = timer as FakeTimer;
    t.fn = null;
    const i = this.#timers.indexOf(t);
    if (i >= 0) this.#timers.splice(i, 1);
  }

  /** Timers waiting now. */
  get pending(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due, in due order, each at its own
   * virtual moment; between two, the event loop turns once, so promise callbacks and arriving
   * datagrams run as they would have.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await turn();
    for (;;) {
      const next = this.#next(target);
      if (next === undefined) break;
      this.#now = Math.max(this.#now, next.due);
      const fn = next.fn;
      this.clearTimeout(next);
      fn?.();
      await turn();
    }
    this.#now = target;
    await turn();
  }

  #next(until: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers) {
      if (
        t.due <= until &&
        (best === undefined || t.due < best.due || (t.due === best.due && t.seq < best.seq))
      )
        best = t;
    }
    return best;
  }
}

/** One turn of the event loop: pending promise callbacks and I/O run. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
