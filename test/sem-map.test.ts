// The lazy engine (settleEach) and what is built on it: Semaphore.map and semMap.
// Settled pairs in input order, O(limit) pulls, backpressure, input errors, break and abort.
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Semaphore } from '../src/gate/semaphore.js';
import { type Gate, type SettledItem, settleEach } from '../src/gate/settle.js';
import { semMap, sharedSemaphore } from '../src/gate/shared.js';
import { deferred } from './helpers/deferred.js';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
const ticks = async (n: number) => {
  for (let i = 0; i < n; i++) await flush();
};

/** An infinite generator that counts how often it was pulled and whether it was closed. */
function counted() {
  const stats = { pulled: 0, closed: false };
  function* gen() {
    try {
      for (let i = 0; ; i++) {
        stats.pulled++;
        yield i;
      }
    } finally {
      stats.closed = true;
    }
  }
  return { stats, gen: gen() };
}

/** An item function whose item `n` runs until the test calls `finish[n].resolve()`. */
function heldItems() {
  const finish: { resolve: () => void }[] = [];
  const fn = (n: number) => {
    const d = deferred();
    finish[n] = d;
    return d.promise.then(() => n);
  };
  return { finish, fn };
}

describe('Semaphore.map', () => {
  it('maps an array to settled pairs in input order', async () => {
    const sem = new Semaphore(2);
    const results = await sem.map(
      async (n: number) => {
        await sleep(n % 3);
        return n * 10;
      },
      [1, 2, 3, 4, 5],
    );
    expect(results).toEqual([
      [true, 10],
      [true, 20],
      [true, 30],
      [true, 40],
      [true, 50],
    ]);
  });

  it('puts failing items at their positions and never rejects for them', async () => {
    const sem = new Semaphore(3);
    const bad = new Error('bad 1');
    const results = await sem.map(
      (n: number) => {
        if (n === 1) return Promise.reject(bad);
        if (n === 3) throw new TypeError('sync 3');
        return n;
      },
      [0, 1, 2, 3, 4],
    );
    expect(results[0]).toEqual([true, 0]);
    expect(results[1]).toEqual([false, bad]);
    expect(results[2]).toEqual([true, 2]);
    expect(results[3]?.[0]).toBe(false);
    expect(results[3]?.[1]).toBeInstanceOf(TypeError);
    expect(results[4]).toEqual([true, 4]);
    expect(sem.tokens).toBe(3);
  });

  it('maps generators and async generators', async () => {
    const sem = new Semaphore(2);
    function* gen() {
      yield* ['a', 'b', 'c'];
    }
    async function* agen() {
      for (const x of ['x', 'y']) {
        await sleep(1);
        yield x;
      }
    }
    expect(await sem.map((s: string) => s.toUpperCase(), gen())).toEqual([
      [true, 'A'],
      [true, 'B'],
      [true, 'C'],
    ]);
    expect(await sem.map(async (s: string) => `${s}!`, agen())).toEqual([
      [true, 'x!'],
      [true, 'y!'],
    ]);
    expect(await sem.map((s: string) => s, [])).toEqual([]);
  });

  it('passes extra args after the item (and not the index)', async () => {
    const sem = new Semaphore(2);
    const seen: unknown[][] = [];
    const fn = (...args: unknown[]) => {
      seen.push(args);
      return args.length;
    };
    await sem.map(fn, ['a', 'b'], 'type', 7);
    await sem.map(fn, ['c']);
    expect(seen).toEqual([['a', 'type', 7], ['b', 'type', 7], ['c']]);
  });

  it('never runs more than the limit at once, and reaches it', async () => {
    const sem = new Semaphore(4);
    let running = 0;
    let peak = 0;
    const results = await sem.map(
      async (n: number) => {
        running++;
        peak = Math.max(peak, running);
        await sleep(Math.floor(Math.random() * 4));
        running--;
        return n;
      },
      Array.from({ length: 100 }, (_, i) => i),
    );
    expect(peak).toBe(4);
    expect(results.every(([ok, v], i) => ok && v === i)).toBe(true);
  });

  it('pulls lazily: never more than the limit inputs in hand beyond those settled', async () => {
    const sem = new Semaphore(3);
    let pulled = 0;
    let settled = 0;
    let worst = 0;
    function* gen() {
      for (let i = 0; i < 500; i++) {
        pulled++;
        worst = Math.max(worst, pulled - settled);
        yield i;
      }
    }
    const results = await sem.map(async (n: number) => {
      await sleep(n % 2);
      settled++;
      return n;
    }, gen());
    expect(results.length).toBe(500);
    expect(worst).toBeLessThanOrEqual(3);
  });

  it('rejects if the input iterable throws', async () => {
    const sem = new Semaphore(2);
    const broken = new Error('input broke');
    function* gen() {
      yield 1;
      yield 2;
      throw broken;
    }
    await expect(sem.map(async (n: number) => n, gen())).rejects.toBe(broken);
    expect(sem.tokens).toBe(2);
    await expect(sem.map((n: number) => n, 5 as unknown as number[])).rejects.toThrow(TypeError);
    await expect(sem.map(5 as unknown as () => void, [1])).rejects.toThrow(TypeError);
  });

  it('yields exactly one settled pair per input, at its index (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.record({ delay: fc.nat(3), fail: fc.boolean(), sync: fc.boolean() }), { maxLength: 40 }),
        async (limit, items) => {
          const sem = new Semaphore(limit);
          let running = 0;
          let peak = 0;
          const results = await sem.map(async (it: (typeof items)[number], ...rest: unknown[]) => {
            expect(rest).toEqual([]);
            running++;
            peak = Math.max(peak, running);
            try {
              if (!it.sync) await sleep(it.delay);
              if (it.fail) throw it;
              return it;
            } finally {
              running--;
            }
          }, items);
          expect(results.length).toBe(items.length);
          results.forEach(([ok, v], i) => {
            expect(ok).toBe(!items[i]!.fail);
            expect(v).toBe(items[i]);
          });
          expect(peak).toBeLessThanOrEqual(limit);
          expect(sem.tokens).toBe(limit);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('settleEach', () => {
  it('does nothing until the first next()', async () => {
    const sem = new Semaphore(2);
    const { stats, gen } = counted();
    const it = settleEach(sem, (n: number) => n, gen);
    await ticks(3);
    expect(stats.pulled).toBe(0);
    await it.return?.();
  });

  it('pulls an infinite generator at most limit (+1) times before a break lands', async () => {
    const sem = new Semaphore(2);
    const { stats, gen } = counted();
    const seen: SettledItem<number, number>[] = [];
    for await (const r of settleEach(sem, (n: number) => sleep(5).then(() => n), gen)) {
      seen.push(r);
      break;
    }
    await ticks(5);
    expect(seen).toHaveLength(1);
    expect(stats.pulled).toBeLessThanOrEqual(3);
    expect(stats.closed).toBe(true);
    await sleep(20); // the started items settle and give their tokens back
    expect([sem.tokens, sem.waiting]).toEqual([2, 0]);
    expect(stats.pulled).toBeLessThanOrEqual(3);
  });

  it('pulls only as the gate frees tokens while items run', async () => {
    const sem = new Semaphore(2);
    const { stats, gen } = counted();
    const { finish: gates, fn } = heldItems();
    const it = settleEach(sem, fn, gen);
    const first = it.next();
    await ticks(5);
    expect(stats.pulled).toBe(2);
    expect(sem.tokens).toBe(0);
    gates[0]!.resolve();
    expect((await first).value).toMatchObject({ index: 0, ok: true, value: 0 });
    await ticks(5);
    expect(stats.pulled).toBe(3);
    await it.return?.();
    gates[1]!.resolve();
    gates[2]!.resolve();
    await ticks(5);
    expect([sem.tokens, sem.waiting]).toEqual([2, 0]);
  });

  it('a slow consumer slows the pull: at most `window` inputs in hand', async () => {
    const sem = new Semaphore(2);
    const { stats, gen } = counted();
    const it = settleEach(sem, (n: number) => n, gen); // default window: 2 x limit = 4
    await it.next();
    await ticks(5);
    expect(stats.pulled).toBeLessThanOrEqual(5); // one taken + four buffered
    const before = stats.pulled;
    await ticks(5);
    expect(stats.pulled).toBe(before);
    let taken = 1;
    for (let i = 0; i < 20; i++) {
      await it.next();
      taken++;
      await ticks(1);
      expect(stats.pulled - taken).toBeLessThanOrEqual(4);
    }
    await it.return?.();
    expect(sem.tokens).toBe(2);
  });

  it('keeps memory O(window) over a long stream, whatever the input length', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const sem = new Semaphore(16);
    const n = 300_000;
    function* gen() {
      for (let i = 0; i < n; i++) yield i;
    }
    const retained: number[] = [];
    let count = 0;
    gc();
    const base = process.memoryUsage().heapUsed;
    for await (const r of settleEach(sem, async (i: number) => i, gen())) {
      if (r.index < 0) break; // keeps r used
      // Sample mid-stream (at 50k, 150k, 250k), while the engine is still busy.
      if (++count % 100_000 === 50_000) {
        gc();
        retained.push(process.memoryUsage().heapUsed - base);
      }
    }
    expect(count).toBe(n);
    // Nothing grows with the input: the heap at 250k items is where it was at 50k.
    expect(retained[2]! - retained[0]!).toBeLessThan(512 * 1024);
  });

  it('yields in completion order by default and in input order with ordered', async () => {
    const delays = [40, 30, 20, 10, 0];
    const run = async (ordered: boolean) => {
      const sem = new Semaphore(5);
      const out: number[] = [];
      for await (const r of settleEach(sem, (d: number) => sleep(d).then(() => d), delays, { ordered })) {
        out.push(r.index);
      }
      return out;
    };
    expect(await run(false)).toEqual([4, 3, 2, 1, 0]);
    expect(await run(true)).toEqual([0, 1, 2, 3, 4]);
  });

  it('tags each result with index and item; fn gets (item, index)', async () => {
    const sem = new Semaphore(2);
    const out: SettledItem<string, string>[] = [];
    for await (const r of settleEach(sem, (s: string, i: number) => `${s}${i}`, ['a', 'b'], {
      ordered: true,
    })) {
      out.push(r);
    }
    expect(out).toEqual([
      { index: 0, item: 'a', ok: true, value: 'a0' },
      { index: 1, item: 'b', ok: true, value: 'b1' },
    ]);
  });

  it('counts a synchronous throw in fn as a failed item', async () => {
    const sem = new Semaphore(1);
    const boom = new Error('boom');
    const out: SettledItem<number, number>[] = [];
    const fn = (n: number) => {
      if (n === 1) throw boom;
      return n;
    };
    for await (const r of settleEach(sem, fn, [0, 1, 2], { ordered: true })) out.push(r);
    expect(out.map((r) => r.ok)).toEqual([true, false, true]);
    expect(out[1]).toEqual({ index: 1, item: 1, ok: false, error: boom });
  });

  it('ordered: a slow head item stops the pull once the window is full', async () => {
    const sem = new Semaphore(10);
    const { stats, gen } = counted();
    const head = deferred();
    const it = settleEach(sem, (n: number) => (n === 0 ? head.promise.then(() => n) : n), gen, {
      ordered: true,
      window: 3,
    });
    const first = it.next();
    await ticks(5);
    expect(stats.pulled).toBe(3); // item 0 running, items 1 and 2 settled and held back
    head.resolve();
    expect((await first).value?.index).toBe(0);
    const rest: number[] = [];
    for (let i = 0; i < 6; i++) rest.push((await it.next()).value!.index);
    expect(rest).toEqual([1, 2, 3, 4, 5, 6]);
    expect(stats.pulled - 7).toBeLessThanOrEqual(3);
    await it.return?.();
    expect(sem.tokens).toBe(10);
  });

  it('ordered with the default window (2 x limit)', async () => {
    const sem = new Semaphore(2);
    const { stats, gen } = counted();
    const head = deferred();
    const it = settleEach(sem, (n: number) => (n === 0 ? head.promise.then(() => n) : n), gen, {
      ordered: true,
    });
    const first = it.next();
    await ticks(5);
    expect(stats.pulled).toBe(4);
    head.resolve();
    await first;
    await it.return?.();
  });

  it('when the input throws: the started items settle and are yielded, then the error is thrown', async () => {
    const sem = new Semaphore(3);
    const broken = new Error('input broke');
    function* gen() {
      yield 10;
      yield 20;
      yield 30;
      throw broken;
    }
    const seen: number[] = [];
    let caught: unknown;
    try {
      for await (const r of settleEach(sem, (n: number) => sleep(n / 10).then(() => n), gen())) {
        if (r.ok) seen.push(r.value);
      }
    } catch (error) {
      caught = error;
    }
    expect(caught).toBe(broken);
    expect(seen.sort()).toEqual([10, 20, 30]);
    expect(sem.tokens).toBe(3);
  });

  it('an async input that rejects is reported the same way', async () => {
    const sem = new Semaphore(2);
    async function* agen() {
      yield 1;
      await sleep(1);
      throw new Error('async input broke');
    }
    const seen: number[] = [];
    const consume = async () => {
      for await (const r of settleEach(sem, (n: number) => n, agen())) if (r.ok) seen.push(r.value);
    };
    await expect(consume()).rejects.toThrow('async input broke');
    expect(seen).toEqual([1]);
    expect(sem.tokens).toBe(2);
  });

  it('breaking out releases every token once the started items settle, and closes the input', async () => {
    const sem = new Semaphore(3);
    const { stats, gen } = counted();
    const releaseSpy = vi.spyOn(sem, 'release');
    let settledCount = 0;
    for await (const r of settleEach(
      sem,
      (n: number) =>
        sleep(n === 0 ? 0 : 15).then(() => {
          settledCount++;
          return n;
        }),
      gen,
    )) {
      expect(r.index).toBe(0);
      break;
    }
    expect(stats.closed).toBe(true);
    expect(sem.tokens).toBeLessThan(3); // the other started items still run
    await sleep(40);
    expect([sem.tokens, sem.waiting]).toEqual([3, 0]);
    // One release per started item, plus at most one for the acquire that waited when the loop
    // broke: while items of its own run, the pump waits without the stop signal (no abort listener
    // per input), so it may still get a token after the break, and gives it straight back.
    expect(releaseSpy.mock.calls.length - stats.pulled).toBeGreaterThanOrEqual(0);
    expect(releaseSpy.mock.calls.length - stats.pulled).toBeLessThanOrEqual(1);
    expect(settledCount).toBe(stats.pulled);
  });

  it('return() while waiting for a token leaves the gate queue', async () => {
    const sem = new Semaphore(1);
    await sem.acquire(); // someone else holds the only token
    const it = settleEach(sem, (n: number) => n, [1, 2, 3]);
    const pending = it.next();
    await ticks(2);
    expect(sem.waiting).toBe(1);
    await it.return?.();
    await expect(pending).resolves.toEqual({ done: true, value: undefined });
    expect(sem.waiting).toBe(0);
    sem.release();
    expect(sem.tokens).toBe(1);
  });

  it('signal: stops pulling, yields the started items, then throws signal.reason', async () => {
    const sem = new Semaphore(2);
    const { stats, gen } = counted();
    const ac = new AbortController();
    const seen: number[] = [];
    let caught: unknown;
    try {
      for await (const r of settleEach(sem, (n: number) => sleep(5).then(() => n), gen, {
        signal: ac.signal,
      })) {
        seen.push(r.index);
        if (seen.length === 3) ac.abort(new Error('enough'));
      }
    } catch (error) {
      caught = error;
    }
    expect((caught as Error).message).toBe('enough');
    const pulledAtAbort = stats.pulled;
    // Every input that was started before the abort was still yielded.
    expect(seen.length).toBe(pulledAtAbort);
    expect(seen.length).toBeLessThanOrEqual(3 + 2);
    expect(stats.closed).toBe(true);
    await sleep(15);
    expect(stats.pulled).toBe(pulledAtAbort);
    expect([sem.tokens, sem.waiting]).toEqual([2, 0]);
  });

  it('signal: cancels an acquire waiting at the gate', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const ac = new AbortController();
    const it = settleEach(sem, (n: number) => n, [1, 2], { signal: ac.signal });
    const pending = it.next();
    await ticks(2);
    expect(sem.waiting).toBe(1);
    ac.abort('stop');
    await expect(pending).rejects.toBe('stop');
    expect(sem.waiting).toBe(0);
    await expect(it.next()).resolves.toEqual({ done: true, value: undefined });
    sem.release();
    expect(sem.tokens).toBe(1);
  });

  it('signal: a stop while its own items run ends the run, and the gate comes back whole', async () => {
    const sem = new Semaphore(2);
    const { stats, gen } = counted();
    const { finish: items, fn } = heldItems();
    const ac = new AbortController();
    const it = settleEach(sem, fn, gen, { signal: ac.signal });
    const first = it.next();
    await ticks(3);
    // Both tokens run inputs of ours; the pump waits at the gate for the third.
    expect([stats.pulled, sem.tokens, sem.waiting]).toEqual([2, 0, 1]);
    let outsiderServed = false;
    const outsider = sem.acquire().then(() => (outsiderServed = true)); // queued behind the pump
    ac.abort('stop');
    expect(stats.closed).toBe(true); // the source closes at once, not when a token comes
    items[0]!.resolve();
    items[1]!.resolve();
    expect((await first).value).toMatchObject({ index: 0, ok: true });
    expect((await it.next()).value).toMatchObject({ index: 1, ok: true });
    await expect(it.next()).rejects.toBe('stop');
    await outsider;
    expect(outsiderServed).toBe(true);
    expect(stats.pulled).toBe(2);
    sem.release();
    await ticks(2);
    expect([sem.tokens, sem.waiting]).toEqual([2, 0]);
  });

  it('signal: ends even when the gate ignores the signal of a waiting acquire', async () => {
    let handOut!: () => void;
    const stubborn: Gate = {
      acquire: () => new Promise<void>((resolve) => (handOut = resolve)),
      release: vi.fn(),
    };
    const ac = new AbortController();
    const it = settleEach(stubborn, (n: number) => n, [1, 2], { signal: ac.signal });
    const pending = it.next();
    await ticks(2);
    ac.abort('stop');
    await expect(pending).rejects.toBe('stop');
    handOut(); // the gate finally hands over a token: it must come straight back
    await ticks(2);
    expect(stubborn.release).toHaveBeenCalledTimes(1);
  });

  it('an already-aborted signal throws its reason before pulling anything', async () => {
    const sem = new Semaphore(2);
    const { stats, gen } = counted();
    const it = settleEach(sem, (n: number) => n, gen, { signal: AbortSignal.abort('early') });
    await expect(it.next()).rejects.toBe('early');
    expect(stats.pulled).toBe(0);
    expect(sem.tokens).toBe(2);
  });

  it('works with any gate that has acquire() and release()', async () => {
    let inFlight = 0;
    let peak = 0;
    const open: Gate = {
      acquire: async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
      },
      release: () => {
        inFlight--;
      },
    };
    const out: number[] = [];
    for await (const r of settleEach(open, async (n: number) => n * 2, [1, 2, 3], { ordered: true })) {
      if (r.ok) out.push(r.value);
    }
    expect(out).toEqual([2, 4, 6]);
    expect(inFlight).toBe(0);
  });

  it('checks its arguments up front', () => {
    const sem = new Semaphore(1);
    expect(() => settleEach(sem, 1 as unknown as () => void, [])).toThrow(TypeError);
    expect(() => settleEach(sem, (x) => x, 'abc' as unknown as string[])).toThrow(TypeError);
    expect(() => settleEach(sem, (x) => x, null as unknown as number[])).toThrow(TypeError);
    expect(() => settleEach({} as Gate, (x) => x, [])).toThrow(TypeError);
    expect(() => settleEach(sem, (x) => x, [], { window: 0 })).toThrow(RangeError);
    expect(() => settleEach(sem, (x) => x, [], { signal: {} as AbortSignal })).toThrow(TypeError);
  });
});

describe('semMap', () => {
  it('runs on the shared semaphore', async () => {
    const KEY = Symbol.for('dnsgate.sharedSemaphore');
    const holder = globalThis as unknown as Record<symbol, unknown>;
    const saved = holder[KEY];
    const mine = new Semaphore(3);
    holder[KEY] = mine;
    try {
      expect(sharedSemaphore()).toBe(mine);
      const mapSpy = vi.spyOn(mine, 'map');
      let running = 0;
      let peak = 0;
      const results = await semMap(
        async (n: number, plus: number) => {
          running++;
          peak = Math.max(peak, running);
          await sleep(2);
          running--;
          return n + plus;
        },
        [1, 2, 3, 4, 5, 6, 7],
        100,
      );
      expect(results).toEqual([101, 102, 103, 104, 105, 106, 107].map((v) => [true, v]));
      expect(mapSpy).toHaveBeenCalledTimes(1);
      expect(peak).toBe(3);
      expect(mine.tokens).toBe(3);
    } finally {
      if (saved === undefined) delete holder[KEY];
      else holder[KEY] = saved;
    }
  });

  it('creates the shared semaphore on first use', async () => {
    const KEY = Symbol.for('dnsgate.sharedSemaphore');
    const holder = globalThis as unknown as Record<symbol, unknown>;
    const saved = holder[KEY];
    delete holder[KEY];
    try {
      expect(await semMap((s: string) => s.length, ['ab', 'c'])).toEqual([
        [true, 2],
        [true, 1],
      ]);
      expect(holder[KEY]).toBeInstanceOf(Semaphore);
      expect((holder[KEY] as Semaphore).limit).toBe(16);
    } finally {
      if (saved === undefined) delete holder[KEY];
      else holder[KEY] = saved;
    }
  });
});
