// The pace (`rate`) on a fake clock: the long-run rate is exactly the rate, even when each wait
// costs at least a whole millisecond and answers come in microseconds (gate 1).
import { describe, expect, it } from 'vitest';
import { Pace } from '../src/gate/rate.js';

/** One query at a time for one simulated second: starts counted, sleeps rounded up as node's timers do. */
function run(rate: number, rttMs: number, overshootMs: number): { starts: number; gaps: number[] } {
  let t = 0;
  const pace = new Pace(rate, () => t);
  const startsAt: number[] = [];
  while (t < 1000) {
    const wait = pace.reserve();
    // A setTimeout(wait) fires after at least 1 ms, on a whole millisecond, and late.
    if (wait > 0) t += Math.max(1, Math.ceil(wait)) + overshootMs;
    if (t >= 1000) break;
    startsAt.push(t);
    t += rttMs;
  }
  return { starts: startsAt.length, gaps: startsAt.slice(1).map((s, i) => s - startsAt[i]!) };
}

describe('pace', () => {
  it.each([
    [5000, 0.05, 0.3],
    [5000, 0.05, 0],
    [2000, 0.1, 0.5],
    [1000, 0.02, 0.2],
  ])('rate %i at gate 1 (answers in %f ms, timers %f ms late) delivers it within 2%%', (rate, rtt, late) => {
    const { starts } = run(rate, rtt, late);
    expect(starts).toBeGreaterThanOrEqual(rate * 0.98);
    expect(starts).toBeLessThanOrEqual(rate + 1 + 2 * (rate / 1000));
  });

  it('never more than the rate over any stretch, beyond the 2 ms tolerance', () => {
    let t = 0;
    const pace = new Pace(5000, () => t);
    // A burst of callers at once: 1 + 2 ms × 5/ms go now, then each waits for its slot.
    const waits = Array.from({ length: 50 }, () => pace.reserve());
    expect(waits.filter((w) => w === 0)).toHaveLength(11);
    for (let i = 11; i < 50; i++) expect(waits[i]).toBeCloseTo(i * 0.2 - 2, 9);
    // After an idle stretch a start may also catch up by 2 ms: about 21 go now, never more.
    t = 1000;
    const after = Array.from({ length: 50 }, () => pace.reserve());
    const now = after.filter((w) => w === 0).length;
    expect(now).toBeGreaterThanOrEqual(20);
    expect(now).toBeLessThanOrEqual(21);
  });

  it('at 100/s starts are evenly spaced: no burst, even after an idle stretch', () => {
    let t = 0;
    const pace = new Pace(100, () => t);
    expect([pace.reserve(), pace.reserve(), pace.reserve()]).toEqual([0, 8, 18]);
    t = 1000;
    expect([pace.reserve(), pace.reserve(), pace.reserve()]).toEqual([0, 6, 16]);
  });
});
