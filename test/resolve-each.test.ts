// resolveEach: one settled result per name, lazily, under the gate and the pace.
import { spawn } from 'node:child_process';
import { getEventListeners, once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BulkResult, type DnsError, Resolver } from '../src/index.js';
import { startTestServer, type TestServer } from '../src/testing/index.js';

// 300 names with one MX each, so every lookup has a distinct, checkable answer.
const N = 300;
const zone = [
  '$ORIGIN bulk.test.',
  '@ 60 SOA ns hm 1 2 3 4 60',
  '@ 60 NS ns',
  ...Array.from({ length: N }, (_, i) => `d${i} 60 MX ${i % 50} mx${i}.bulk.test.`),
].join('\n');
const name = (i: number) => `d${i}.bulk.test`;

async function collect<V>(it: AsyncIterable<BulkResult<V>>): Promise<BulkResult<V>[]> {
  const out: BulkResult<V>[] = [];
  for await (const r of it) out.push(r);
  return out;
}

describe('resolveEach', () => {
  let server: TestServer;
  let arrivals: number[] = [];
  beforeAll(async () => {
    server = await startTestServer({
      zone,
      delayMs: 5,
      handler: () => {
        arrivals.push(performance.now());
        return undefined;
      },
    });
  });
  afterAll(() => server.close());

  it('yields one result per name, exactly once, with node-shaped values', async () => {
    const r = new Resolver({ servers: [server.server], concurrency: 16 });
    const results = await collect(
      r.resolveEach(
        Array.from({ length: N }, (_, i) => name(i)),
        'MX',
      ),
    );
    expect(results).toHaveLength(N);
    expect(new Set(results.map((x) => x.index)).size).toBe(N);
    for (const x of results) {
      expect(x.ok).toBe(true);
      if (x.ok) expect(x.value).toEqual([{ exchange: `mx${x.index}.bulk.test`, priority: x.index % 50 }]);
      expect(x.name).toBe(name(x.index));
    }
  });

  it('bad names and NXDOMAIN are failures at their index, never a throw', async () => {
    const r = new Resolver({ servers: [server.server], concurrency: 4 });
    const results = await collect(
      r.resolveEach([name(1), 'a..b', 'nope.bulk.test', name(2)], 'MX', { ordered: true }),
    );
    expect(results.map((x) => [x.index, x.ok, x.ok ? undefined : (x.error as DnsError).code])).toEqual([
      [0, true, undefined],
      [1, false, 'EBADNAME'],
      [2, false, 'ENOTFOUND'],
      [3, true, undefined],
    ]);
  });

  it('ordered keeps input order', async () => {
    const r = new Resolver({ servers: [server.server], concurrency: 8 });
    const results = await collect(
      r.resolveEach(
        Array.from({ length: 100 }, (_, i) => name(i)),
        'MX',
        { ordered: true },
      ),
    );
    expect(results.map((x) => x.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('pulls lazily: a slow consumer slows the pull, an infinite input is fine', async () => {
    const r = new Resolver({ servers: [server.server], concurrency: 4 });
    let pulled = 0;
    function* forever() {
      for (let i = 0; ; i++) {
        pulled++;
        yield name(i % N);
      }
    }
    let seen = 0;
    for await (const x of r.resolveEach(forever(), 'MX')) {
      expect(x.ok).toBe(true);
      if (++seen === 20) break;
      await new Promise((res) => setTimeout(res, 5));
    }
    // At most the window (2 × limit) ahead of what was consumed.
    expect(pulled).toBeLessThanOrEqual(20 + 8 + 1);
    await new Promise((res) => setTimeout(res, 50));
    expect(r.semaphore.tokens).toBe(4);
  });

  it('the gate holds at the server, and progress counts add up', async () => {
    server.resetStats();
    const r = new Resolver({ servers: [server.server], concurrency: 6 });
    const run = r.resolveEach(
      Array.from({ length: 120 }, (_, i) => name(i)),
      'MX',
    );
    let maxInFlight = 0;
    const stop = run.subscribe((p) => {
      maxInFlight = Math.max(maxInFlight, p.inFlight);
    });
    const results = await collect(run);
    stop();
    expect(results).toHaveLength(120);
    expect(server.stats.peakInFlight).toBe(6);
    expect(maxInFlight).toBeLessThanOrEqual(6);
    expect(run.progress).toEqual({ started: 120, settled: 120, ok: 120, failed: 0, inFlight: 0 });
  });

  it('an input that throws mid-way: every started name settles, then the error is thrown', async () => {
    const r = new Resolver({ servers: [server.server], concurrency: 3 });
    function* broken() {
      for (let i = 0; i < 5; i++) yield name(i);
      throw new Error('disk on fire');
    }
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const x of r.resolveEach(broken(), 'MX')) got.push(x.index);
      })(),
    ).rejects.toThrow('disk on fire');
    expect(got.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);
    expect(r.semaphore.tokens).toBe(3);
  });

  it('abort: stops pulling, in-flight lookups settle as ECANCELLED, then signal.reason is thrown', async () => {
    const slow = await startTestServer({ zone, delayMs: 200 });
    const r = new Resolver({ servers: [slow.server], concurrency: 4 });
    const controller = new AbortController();
    const run = r.resolveEach(
      Array.from({ length: 50 }, (_, i) => name(i)),
      'MX',
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(new Error('enough')), 50);
    const got: BulkResult<unknown>[] = [];
    await expect(
      (async () => {
        for await (const x of run) got.push(x);
      })(),
    ).rejects.toThrow('enough');
    expect(got).toHaveLength(4);
    expect(got.every((x) => !x.ok && (x.error as DnsError).code === 'ECANCELLED')).toBe(true);
    expect(run.progress).toMatchObject({ started: 4, settled: 4, failed: 4, inFlight: 0 });
    expect(r.semaphore.tokens).toBe(4);
    await slow.close();
  });

  it('one signal for a whole run: no listener per lookup, so no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const r = new Resolver({ servers: [server.server], concurrency: 32 });
    const controller = new AbortController();
    await collect(
      r.resolveEach(
        Array.from({ length: 200 }, (_, i) => name(i)),
        'MX',
        { signal: controller.signal },
      ),
    );
    await new Promise((res) => setImmediate(res));
    process.off('warning', onWarning);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('leaving the loop early cancels the lookups in flight: permits back at once, no retries after', async () => {
    // d0 answers; every other name is never answered, so its lookup would retry for 1.5 s.
    const mute = await startTestServer({
      zone,
      handler: (q) => (q.questions?.[0]?.name === name(0) ? undefined : null),
    });
    try {
      const r = new Resolver({ servers: [mute.server], concurrency: 4, timeout: 100, tries: 4 });
      const run = r.resolveEach(
        Array.from({ length: 20 }, (_, i) => name(i)),
        'MX',
      );
      for await (const x of run) {
        expect(x.name).toBe(name(0));
        break;
      }
      await new Promise((res) => setImmediate(res));
      expect(r.semaphore.tokens).toBe(4);
      expect(run.progress.inFlight).toBe(0);
      // Datagrams sent before the break may still be on their way to the server (tries come every 100 ms+).
      await new Promise((res) => setTimeout(res, 50));
      const sent = mute.stats.udpQueries;
      await new Promise((res) => setTimeout(res, 350));
      expect(mute.stats.udpQueries).toBe(sent);
    } finally {
      await mute.close();
    }
  });

  it("a run that ends, or is left, stops listening to the caller's signal", async () => {
    const r = new Resolver({ servers: [server.server] });
    const controller = new AbortController();
    for (let i = 0; i < 3; i++) await collect(r.resolveEach([name(i)], 'MX', { signal: controller.signal }));
    for await (const _ of r.resolveEach([name(0), name(1)], 'MX', { signal: controller.signal })) break;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('a subscriber that throws changes no result; its error surfaces as uncaught, apart', async () => {
    const script = `
      import { Resolver } from './src/index.ts';
      const uncaught = [];
      process.on('uncaughtException', (e) => uncaught.push(e.message));
      const r = new Resolver({ servers: [${JSON.stringify(server.server)}] });
      const run = r.resolveEach([${JSON.stringify(name(0))}, ${JSON.stringify(name(1))}], 'MX');
      let told = 0;
      run.subscribe(() => { throw new Error('buggy progress bar'); });
      run.subscribe(() => { told++; });
      const oks = [];
      for await (const x of run) oks.push(x.ok);
      await new Promise((res) => setImmediate(res));
      console.log(JSON.stringify({ oks, told, uncaught, progress: run.progress }));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    await once(child, 'close');
    expect(JSON.parse(out)).toEqual({
      oks: [true, true],
      told: 2,
      uncaught: ['buggy progress bar', 'buggy progress bar'],
      progress: { started: 2, settled: 2, ok: 2, failed: 0, inFlight: 0 },
    });
  });

  it('rate: starts are evenly spaced at the server, at most `rate` per second', async () => {
    const r = new Resolver({ servers: [server.server], concurrency: 16, rate: 100 });
    arrivals = [];
    const t0 = performance.now();
    await collect(
      r.resolveEach(
        Array.from({ length: 60 }, (_, i) => name(i)),
        'MX',
      ),
    );
    const took = performance.now() - t0;
    expect(arrivals).toHaveLength(60);
    // 60 starts at 100/s take at least 590 ms, and no 100 ms window holds more than 11.
    expect(took).toBeGreaterThanOrEqual(580);
    for (const t of arrivals) {
      const inWindow = arrivals.filter((u) => u >= t && u < t + 100).length;
      expect(inWindow).toBeLessThanOrEqual(11);
    }
  });

  it('rejects a bad rrtype and a bad rate', () => {
    const r = new Resolver({ servers: [server.server] });
    // @ts-expect-error: wrong type on purpose
    expect(() => r.resolveEach([], 'BOGUS')).toThrow(TypeError);
    expect(() => new Resolver({ rate: 0 })).toThrow(RangeError);
    expect(() => new Resolver({ rate: Number.NaN })).toThrow(RangeError);
  });
});
