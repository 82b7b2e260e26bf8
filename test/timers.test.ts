// The one timer behind every try's timeout, seen through what it schedules.
import { describe, expect, it } from 'vitest';
import { realRuntime, type Timed } from '../src/runtime.js';

const schedule = (t: Timed, ms: number) => realRuntime.timers.schedule(t, ms);
const unschedule = (t: Timed) => realRuntime.timers.unschedule(t);

const waiter = (): Timed & { expired: number } => ({
  due: 0,
  prev: null,
  next: null,
  scheduled: false,
  weak: false,
  expired: 0,
  expire() {
    this.expired++;
  },
});

describe('timers', () => {
  it('fires in due order, and not what was unscheduled', async () => {
    const [a, b, c] = [waiter(), waiter(), waiter()];
    const order: string[] = [];
    a.expire = () => order.push('a');
    b.expire = () => order.push('b');
    c.expire = () => order.push('c');
    schedule(b, 20);
    schedule(a, 5);
    schedule(c, 10);
    unschedule(c);
    await new Promise((res) => setTimeout(res, 60));
    expect(order).toEqual(['a', 'b']);
  });

  // Beyond 2^31 - 1 ms node's setTimeout fires after 1 ms (with a TimeoutOverflowWarning): the list
  // would then wake every millisecond for weeks. A very long wait arms the longest delay instead.
  it('a wait longer than node allows neither warns nor fires early', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const far = waiter();
    schedule(far, 2 ** 31 + 1000);
    await new Promise((res) => setTimeout(res, 50));
    unschedule(far);
    await new Promise((res) => setImmediate(res));
    process.off('warning', onWarning);
    expect(far.expired).toBe(0);
    expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([]);
  });
});
