/**
 * A pace for query starts: at most `perSecond`, evenly spaced (a token bucket of depth one, or
 * GCRA), so there is never a burst at a window edge. Each start reserves the next free slot.
 */
export class Pace {
  readonly perSecond: number;
  #interval: number;
  #next = 0;

  constructor(perSecond: number) {
    this.perSecond = perSecond;
    this.#interval = 1000 / perSecond;
  }

  /** Reserves the next slot and returns how many ms to wait for it (0: go now). */
  reserve(): number {
    const now = performance.now();
    const at = Math.max(this.#next, now);
    this.#next = at + this.#interval;
    return at - now;
  }
}
