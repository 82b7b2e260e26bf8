// The gate's semantics (Twisted's DeferredSemaphore): FIFO hand-off, no barging, run(), abort,
// run-time limits, and the application-wide shared instance.
import { getEventListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Semaphore } from '../src/gate/semaphore.js';
import { DEFAULT_SHARED_LIMIT, sharedSemaphore } from '../src/gate/shared.js';

/** Lets every queued microtask (and the ones they queue) run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(p: Promise<T>) {
  const state = { settled: false, ok: undefined as boolean | undefined, value: undefined as unknown };
  p.then(
    (value) => Object.assign(state, { settled: true, ok: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, ok: false, value: error }),
  );
  return state;
}

describe('constructor and limit validation', () => {
  it.each([
    [0, '0'],
    [-1, '-1'],
    [1.5, '1.5'],
    [Number.NaN, 'NaN'],
    ['2', '"2"'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [undefined, 'undefined'],
  ])('new Semaphore(%s) is a RangeError naming the value', (limit, shown) => {
    expect(() => new Semaphore(limit as number)).toThrow(RangeError);
    expect(() => new Semaphore(limit as number)).toThrow(
      `Expected \`limit\` to be an integer >= 1, got ${shown}`,
    );
  });

  it('names 0 exactly as documented', () => {
    expect(() => new Semaphore(0)).toThrow(
      Object.assign(new RangeError('Expected `limit` to be an integer >= 1, got 0'), {
        code: 'ERR_OUT_OF_RANGE',
      }),
    );
  });

  it.each([0, -1, 1.5, Number.NaN, '2', Number.POSITIVE_INFINITY])(
    'setting limit = %s is a RangeError and changes nothing',
    (limit) => {
      const sem = new Semaphore(3);
      expect(() => {
        sem.limit = limit as number;
      }).toThrow(RangeError);
      expect(sem.limit).toBe(3);
      expect(sem.tokens).toBe(3);
    },
  );

  it('accepts any integer >= 1', () => {
    expect(new Semaphore(1).limit).toBe(1);
    expect(new Semaphore(1000).tokens).toBe(1000);
  });
});

describe('tokens and waiting', () => {
  it('count free tokens and queued acquirers', async () => {
    const sem = new Semaphore(2);
    expect([sem.tokens, sem.waiting]).toEqual([2, 0]);
    await sem.acquire();
    expect([sem.tokens, sem.waiting]).toEqual([1, 0]);
    await sem.acquire();
    expect([sem.tokens, sem.waiting]).toEqual([0, 0]);
    const third = sem.acquire();
    const fourth = sem.acquire();
    expect([sem.tokens, sem.waiting]).toEqual([0, 2]);
    sem.release();
    await third;
    expect([sem.tokens, sem.waiting]).toEqual([0, 1]);
    sem.release();
    await fourth;
    sem.release();
    sem.release();
    expect([sem.tokens, sem.waiting]).toEqual([2, 0]);
  });
});

describe('FIFO with direct hand-off', () => {
  it('gives a released token straight to the oldest waiter: tokens stays 0', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const a = track(sem.acquire());
    const b = track(sem.acquire());
    sem.release();
    expect(sem.tokens).toBe(0);
    expect(sem.waiting).toBe(1);
    await flush();
    expect(a.settled).toBe(true);
    expect(b.settled).toBe(false);
  });

  it('no barging: a newcomer queues behind waiters, and tryAcquire fails while anyone waits', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const order: string[] = [];
    const a = sem.acquire().then(() => order.push('a'));
    sem.release(); // handed to a
    const late = sem.acquire().then(() => order.push('late'));
    expect(sem.tryAcquire()).toBe(false);
    await a;
    sem.release(); // handed to late
    await late;
    sem.release();
    expect(order).toEqual(['a', 'late']);
    expect(sem.tokens).toBe(1);
  });

  it('tryAcquire takes a free token when nobody waits, and fails when none is free', () => {
    const sem = new Semaphore(2);
    expect(sem.tryAcquire()).toBe(true);
    expect(sem.tryAcquire()).toBe(true);
    expect(sem.tryAcquire()).toBe(false);
    expect(sem.tokens).toBe(0);
    sem.release();
    sem.release();
    expect(sem.tokens).toBe(2);
  });

  it('tryAcquire refuses while waiters remain even after the limit grows', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const a = track(sem.acquire());
    const b = track(sem.acquire());
    sem.limit = 2; // one new token: goes to a, b still waits
    expect(sem.tryAcquire()).toBe(false);
    await flush();
    expect([a.settled, b.settled]).toEqual([true, false]);
  });

  it('a task started by a hand-off cannot overtake the waiters behind it', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const seen: boolean[] = [];
    const task = sem.run(() => {
      // Two tokens are free at this instant, but one belongs to the waiter queued behind us.
      seen.push(sem.tryAcquire());
    });
    const behind = track(sem.acquire());
    sem.limit = 3; // hands tokens to the task and then to the waiter, in order
    await task;
    await flush();
    expect(seen).toEqual([false]);
    expect(behind.settled).toBe(true);
  });

  it('starts contended run() tasks in call order, never more than the limit at once', async () => {
    const sem = new Semaphore(3);
    const started: number[] = [];
    let running = 0;
    let peak = 0;
    const task = async (i: number) => {
      started.push(i);
      running++;
      peak = Math.max(peak, running);
      await sleep(Math.floor(Math.random() * 8));
      running--;
      return i;
    };
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => sem.run(task, i)));
    expect(results).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(started).toEqual(results);
    expect(peak).toBe(3);
    expect(sem.tokens).toBe(3);
  });
});

describe('first: a retry queues ahead', () => {
  it('first waiters go before plain ones, in FIFO order among themselves', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const order: string[] = [];
    const take = (name: string, first?: boolean) =>
      sem.acquire({ first }).then(() => {
        order.push(name);
        sem.release();
      });
    const all = [take('a'), take('b'), take('r1', true), take('c'), take('r2', true)];
    expect(sem.waiting).toBe(5);
    sem.release();
    await Promise.all(all);
    expect(order).toEqual(['r1', 'r2', 'a', 'b', 'c']);
    expect(sem.tokens).toBe(1);
  });

  it('a first waiter that aborts leaves the order of the rest intact', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const order: string[] = [];
    const ac = new AbortController();
    const take = (name: string, options?: { first?: boolean; signal?: AbortSignal }) =>
      sem.acquire(options).then(
        () => {
          order.push(name);
          sem.release();
        },
        () => order.push(`${name} aborted`),
      );
    const all = [take('a'), take('r1', { first: true }), take('r2', { first: true, signal: ac.signal })];
    ac.abort();
    // r2 was the last first waiter: the next one queues after r1, still ahead of a.
    all.push(take('r3', { first: true }));
    sem.release();
    await Promise.all(all);
    expect(order).toEqual(['r2 aborted', 'r1', 'r3', 'a']);
  });

  it('with a token free and nobody waiting, it takes it at once', async () => {
    const sem = new Semaphore(1);
    await sem.acquire({ first: true });
    expect(sem.tokens).toBe(0);
    sem.release();
  });
});

describe('limit at run time', () => {
  it('growing hands the new tokens to waiters in order', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const order: number[] = [];
    const waiters = [0, 1, 2, 3].map((i) => sem.acquire().then(() => order.push(i)));
    sem.limit = 3; // two new tokens
    expect(sem.waiting).toBe(2);
    expect(sem.tokens).toBe(0);
    await flush();
    expect(order).toEqual([0, 1]);
    sem.limit = 10;
    await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3]);
    expect(sem.tokens).toBe(5);
  });

  it('shrinking never preempts holders: tokens stay 0 until enough release', async () => {
    const sem = new Semaphore(3);
    for (let i = 0; i < 3; i++) await sem.acquire();
    sem.limit = 1;
    expect(sem.tokens).toBe(0);
    const waiter = track(sem.acquire());
    sem.release(); // 2 held, limit 1
    expect(sem.tokens).toBe(0);
    sem.release(); // 1 held
    await flush();
    expect(waiter.settled).toBe(false);
    sem.release(); // 0 held: the waiter gets it
    await flush();
    expect(waiter.settled).toBe(true);
    expect(sem.tokens).toBe(0);
    sem.release();
    expect(sem.tokens).toBe(1);
    expect(() => sem.release()).toThrow(Error);
  });
});

describe('release', () => {
  it('throws when no token is held (over-release would raise the limit)', async () => {
    const sem = new Semaphore(2);
    expect(() => sem.release()).toThrow(/no token held/);
    await sem.acquire();
    sem.release();
    expect(() => sem.release()).toThrow(Error);
    expect(sem.tokens).toBe(2);
    expect(sem.tryAcquire() && sem.tryAcquire() && !sem.tryAcquire()).toBe(true);
  });
});

describe('run', () => {
  it('passes the value through and releases', async () => {
    const sem = new Semaphore(1);
    await expect(sem.run(async (a: number, b: string) => `${a}${b}`, 1, 'x')).resolves.toBe('1x');
    await expect(sem.run((a: number) => a * 2, 21)).resolves.toBe(42);
    expect(sem.tokens).toBe(1);
  });

  it('passes a rejection through and releases', async () => {
    const sem = new Semaphore(1);
    const boom = new Error('boom');
    await expect(sem.run(() => Promise.reject(boom))).rejects.toBe(boom);
    expect(sem.tokens).toBe(1);
  });

  it('turns a synchronous throw into a rejection and releases', async () => {
    const sem = new Semaphore(1);
    const boom = new Error('sync');
    const p = sem.run(() => {
      throw boom;
    });
    expect(sem.tokens).toBe(1);
    await expect(p).rejects.toBe(boom);
  });

  it('releases for queued tasks too, whatever they do', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const ok = sem.run(async () => 'ok');
    const bad = sem.run(async () => {
      throw new Error('bad');
    });
    const sync = sem.run(() => {
      throw new Error('sync');
    });
    const value = sem.run(() => 7);
    expect(sem.waiting).toBe(4);
    sem.release();
    await expect(ok).resolves.toBe('ok');
    await expect(bad).rejects.toThrow('bad');
    await expect(sync).rejects.toThrow('sync');
    await expect(value).resolves.toBe(7);
    expect([sem.tokens, sem.waiting]).toEqual([1, 0]);
  });

  it('adopts foreign thenables', async () => {
    const sem = new Semaphore(1);
    const thenable = {
      // biome-ignore lint/suspicious/noThenProperty: a foreign (non-native) thenable is the point here
      then: (ok: (v: number) => void) => setTimeout(() => ok(5), 1),
    } as unknown as PromiseLike<number>;
    await expect(sem.run(() => thenable)).resolves.toBe(5);
    expect(sem.tokens).toBe(1);
  });

  it('holds the token until the result settles', async () => {
    const sem = new Semaphore(1);
    let finish!: () => void;
    const p = sem.run(() => new Promise<void>((r) => (finish = r)));
    await flush();
    expect(sem.tokens).toBe(0);
    finish();
    await p;
    expect(sem.tokens).toBe(1);
  });

  it('calls fn synchronously when a token is free, as Twisted does', () => {
    const sem = new Semaphore(1);
    let called = false;
    void sem.run(() => {
      called = true;
    });
    expect(called).toBe(true);
  });

  it('rejects with a TypeError when fn is not a function', async () => {
    const sem = new Semaphore(1);
    await expect(sem.run(42 as unknown as () => void)).rejects.toThrow(TypeError);
    expect(sem.tokens).toBe(1);
  });

  it('drains 100,000 queued synchronous tasks in order without recursion (twisted#9304)', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const n = 100_000;
    const order: number[] = [];
    const all: Promise<number>[] = [];
    for (let i = 0; i < n; i++) {
      all.push(
        sem.run((k: number) => {
          order.push(k);
          return k;
        }, i),
      );
    }
    expect(sem.waiting).toBe(n);
    sem.release(); // runs every task inside this call, in a loop
    expect(order.length).toBe(n);
    const results = await Promise.all(all);
    expect(results[n - 1]).toBe(n - 1);
    expect(order.every((k, i) => k === i)).toBe(true);
    expect([sem.tokens, sem.waiting]).toEqual([1, 0]);
  });

  it('completes 100,000 queued async tasks in order', async () => {
    const sem = new Semaphore(1);
    const n = 100_000;
    const order: number[] = [];
    const all: Promise<void>[] = [];
    for (let i = 0; i < n; i++) all.push(sem.run(async () => void order.push(i)));
    await Promise.all(all);
    expect(order.length).toBe(n);
    expect(order.every((k, i) => k === i)).toBe(true);
  });
});

describe('abort', () => {
  it('an already-aborted signal rejects at once with its reason and takes no token', async () => {
    const sem = new Semaphore(1);
    const reason = new Error('stop');
    await expect(sem.acquire({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect([sem.tokens, sem.waiting]).toEqual([1, 0]);
  });

  it('the default reason is an AbortError', async () => {
    const sem = new Semaphore(1);
    await expect(sem.acquire({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('aborting a waiting acquire removes it from the queue and rejects with the reason', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const ac = new AbortController();
    const a = track(sem.acquire());
    const b = sem.acquire({ signal: ac.signal });
    const c = track(sem.acquire());
    expect(sem.waiting).toBe(3);
    ac.abort('changed my mind');
    expect(sem.waiting).toBe(2);
    await expect(b).rejects.toBe('changed my mind');
    sem.release(); // the holder's token goes to a; b is no longer in line
    await flush();
    expect([a.settled, c.settled]).toEqual([true, false]);
    sem.release(); // a's token goes to c
    await flush();
    expect(c.settled).toBe(true);
    sem.release();
    expect([sem.tokens, sem.waiting]).toEqual([1, 0]);
  });

  it('a waiter handed its token before the abort keeps it: nothing lost, nothing duplicated', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const acA = new AbortController();
    const acB = new AbortController();
    const a = sem.acquire({ signal: acA.signal });
    const b = track(sem.acquire({ signal: acB.signal }));
    sem.release(); // hand-off to A
    acA.abort(new Error('too late'));
    await expect(a).resolves.toBeUndefined();
    expect([sem.tokens, sem.waiting]).toEqual([0, 1]);
    await flush();
    expect(b.settled).toBe(false);
    sem.release(); // A's token goes to B
    await flush();
    expect(b.settled).toBe(true);
    expect(b.ok).toBe(true);
    sem.release(); // B's
    expect([sem.tokens, sem.waiting]).toEqual([1, 0]);
    expect(() => sem.release()).toThrow(Error);
  });

  it('leaks no abort listener: one signal reused for 10,000 acquires', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const sem = new Semaphore(1);
      const ac = new AbortController();
      await sem.acquire({ signal: ac.signal }); // fast path: no listener at all
      for (let i = 0; i < 10_000; i++) {
        const next = sem.acquire({ signal: ac.signal }); // queued behind the holder
        expect(getEventListeners(ac.signal, 'abort').length).toBe(1);
        sem.release(); // hand-off removes the listener
        await next;
      }
      sem.release();
      expect(getEventListeners(ac.signal, 'abort').length).toBe(0);
      await flush();
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('an aborted listener is gone too', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const ac = new AbortController();
    const p = sem.acquire({ signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(getEventListeners(ac.signal, 'abort').length).toBe(0);
  });

  it('rejects with a TypeError when signal is not an AbortSignal', async () => {
    const sem = new Semaphore(1);
    await expect(sem.acquire({ signal: {} as AbortSignal })).rejects.toThrow(TypeError);
    expect(sem.tokens).toBe(1);
  });
});

describe('against a model (fast-check)', () => {
  type Op =
    | { op: 'acquire'; withSignal: boolean }
    | { op: 'tryAcquire' }
    | { op: 'release' }
    | { op: 'limit'; n: number }
    | { op: 'abort'; k: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('acquire' as const), withSignal: fc.boolean() }),
    fc.record({ op: fc.constant('tryAcquire' as const) }),
    fc.record({ op: fc.constant('release' as const) }),
    fc.record({ op: fc.constant('limit' as const), n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ op: fc.constant('abort' as const), k: fc.nat(5) }),
  );

  it('tokens, waiting, grant order and abort agree with a FIFO model', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(opArb, { maxLength: 60 }),
        async (limit, ops) => {
          const sem = new Semaphore(limit);
          let held = 0;
          let queue: { id: number; ac: AbortController | undefined }[] = [];
          const expectedGrants: number[] = [];
          const grants: number[] = [];
          const rejected: number[] = [];
          const expectedRejected: number[] = [];
          let nextId = 0;
          const drain = () => {
            while (held < limit && queue.length > 0) {
              expectedGrants.push(queue.shift()!.id);
              held++;
            }
          };
          for (const o of ops) {
            if (o.op === 'acquire') {
              const id = nextId++;
              const ac = o.withSignal ? new AbortController() : undefined;
              sem.acquire(ac ? { signal: ac.signal } : undefined).then(
                () => grants.push(id),
                () => rejected.push(id),
              );
              if (held < limit && queue.length === 0) {
                held++;
                expectedGrants.push(id);
              } else queue.push({ id, ac });
            } else if (o.op === 'tryAcquire') {
              const got = held < limit && queue.length === 0;
              expect(sem.tryAcquire()).toBe(got);
              if (got) held++;
            } else if (o.op === 'release') {
              if (held === 0) expect(() => sem.release()).toThrow(Error);
              else {
                sem.release();
                held--;
                drain();
              }
            } else if (o.op === 'limit') {
              sem.limit = o.n;
              limit = o.n;
              drain();
            } else {
              const withSignal = queue.filter((w) => w.ac !== undefined);
              const victim = withSignal[o.k % Math.max(1, withSignal.length)];
              if (victim) {
                victim.ac!.abort();
                queue = queue.filter((w) => w !== victim);
                expectedRejected.push(victim.id);
              }
            }
            expect(sem.tokens).toBe(Math.max(0, limit - held));
            expect(sem.waiting).toBe(queue.length);
            if (sem.waiting > 0) expect(sem.tokens).toBe(0);
          }
          await flush();
          expect(grants).toEqual(expectedGrants);
          expect(rejected).toEqual(expectedRejected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('sharedSemaphore', () => {
  const KEY = Symbol.for('dnsgate.sharedSemaphore');
  const holder = globalThis as unknown as Record<symbol, unknown>;

  it('lives on globalThis under Symbol.for("dnsgate.sharedSemaphore"), with the default limit', () => {
    const saved = holder[KEY];
    delete holder[KEY];
    try {
      const sem = sharedSemaphore();
      expect(holder[KEY]).toBe(sem);
      expect(sharedSemaphore()).toBe(sem);
      expect(sem).toBeInstanceOf(Semaphore);
      expect(sem.limit).toBe(DEFAULT_SHARED_LIMIT);
      expect(DEFAULT_SHARED_LIMIT).toBe(16);
      expect(Object.keys(globalThis)).not.toContain(KEY.toString());
    } finally {
      if (saved === undefined) delete holder[KEY];
      else holder[KEY] = saved;
    }
  });

  it('uses an instance another copy of the package put there first', async () => {
    const saved = holder[KEY];
    delete holder[KEY];
    try {
      vi.resetModules();
      const copyA = await import('../src/index.js');
      vi.resetModules();
      const copyB = await import('../src/index.js');
      expect(copyA.Semaphore).not.toBe(copyB.Semaphore); // two copies, as ESM + CJS would be
      const fromA = copyA.sharedSemaphore();
      expect(copyB.sharedSemaphore()).toBe(fromA);
      expect(fromA instanceof copyB.Semaphore).toBe(false);
      expect(sharedSemaphore()).toBe(fromA);

      // And one placed there by hand is used as is.
      const mine = new Semaphore(3);
      holder[KEY] = mine;
      expect(copyB.sharedSemaphore()).toBe(mine);
      expect(sharedSemaphore().limit).toBe(3);
    } finally {
      if (saved === undefined) delete holder[KEY];
      else holder[KEY] = saved;
    }
  });

  it('refuses something that is not a semaphore', () => {
    const saved = holder[KEY];
    holder[KEY] = { not: 'a semaphore' };
    try {
      expect(() => sharedSemaphore()).toThrow(TypeError);
    } finally {
      if (saved === undefined) delete holder[KEY];
      else holder[KEY] = saved;
    }
  });
});
