/**
 * How far from its slot a start may go (GCRA's tolerance τ), early or late: node's timers fire in
 * whole milliseconds, and late, so a pace that slept for each slot at high rates delivered a
 * fraction of its rate (gate 1 at 5,000/s reached about 1,900/s), and a start that falls behind
 * may catch up by τ. Starts then come in bursts of at most `1 + 2τ × rate` (21 at 5,000/s); at
 * 250/s and below, one at a time.
 */
const TOLERANCE_MS = 2;

/**
 * A pace for query starts: at most `perSecond` on average (GCRA: each start reserves the next
 * slot; a start may take its slot up to {@link TOLERANCE_MS} early), so the long-run rate is
 * exactly `perSecond` and there is never a burst at a window edge.
 *
 * @example
 * ```ts
 * const pace = new Pace(100);
 * const wait = pace.reserve(); // ms to wait before this start (0: go now)
 * ```
 */
export class Pace {
  readonly perSecond: number;
  #interval: number;
  /** When the next slot is due (GCRA's theoretical arrival time). */
  #next = 0;
  #now: () => number;

  constructor(perSecond: number, now: () => number = () => performance.now()) {
    this.perSecond = perSecond;
    this.#interval = 1000 / perSecond;
    this.#now = now;
  }

  /** Reserves the next slot and returns how many ms to wait for it (0: go now). */
  reserve(): number {
    const now = this.#now();
    // A start that fell behind its slot (a slow answer, a late timer) keeps up to τ of credit.
    const at = Math.max(this.#next, now - TOLERANCE_MS);
    this.#next = at + this.#interval;
    const early = at - now;
    return early <= TOLERANCE_MS ? 0 : early - TOLERANCE_MS;
  }
}
