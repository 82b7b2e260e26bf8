// The adaptive gate against real routers from Debian, in front of knotd: dnsmasq refuses past
// `dns-forward-max` (20), unbound drops past `num-queries-per-thread` (16). 10,000 distinct MX
// lookups at ceilings of 16, 200 and 1,000, default tries and timeout: none is lost, every answer
// is right, refused or dropped tries stay a small share of what was sent, and a counting relay in
// front of the router counts the queries it holds, sent and not answered (95th percentile over
// time, at every ms; a copy it dropped is not held). The figures (wall time, share, the limit reached) are
// printed for the README's table; wall times against fixed settings are `npm run bench:routers`.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resolver } from '../src/index.js';
import { requireBinaries } from './helpers/bin.js';
import { BULK_ORIGIN, bulkName, bulkZone, shuffledAsks } from './helpers/bulk-zone.js';
import { startDnsmasq } from './helpers/dnsmasq.js';
import { type KnotServer, startKnot } from './helpers/knot.js';
import { startLine, startRelay } from './helpers/relay.js';
import { startUnbound } from './helpers/unbound.js';

const available = requireBinaries(['knotd', 'knotc', 'dnsmasq', 'unbound'], 'test/routers.test.ts');

const LOOKUPS = 10_000;
/** Lookups and the line's delay of the runs behind a slow upstream. */
const LINE_LOOKUPS = 3_000;
const LINE_MS = 20;
const nameOf = bulkName;
/** The runs with the routers' caches on: lookups, over this many names, and the line's delay. */
const CACHED_LOOKUPS = 5_000;
const CACHED_NAMES = 1_000;
const MISS_MS = 70;
/** The i-th of CACHED_LOOKUPS: each of CACHED_NAMES names asked 5 times, in a shuffled order. */
const cachedOrder = shuffledAsks(CACHED_LOOKUPS, CACHED_NAMES);

const ROUTERS = {
  'dnsmasq (dns-forward-max 20, refuses when full)': {
    size: 20,
    /** What p95 held by the router may be past `size` here, for CI's noisy neighbours (see the test). */
    over: 2,
    start: (upstream: string) => startDnsmasq({ upstream, forwardMax: 20 }),
    cached: (upstream: string) => startDnsmasq({ upstream, forwardMax: 20, cacheSize: 10_000 }),
  },
  'unbound (num-queries-per-thread 16, drops when full)': {
    size: 16,
    over: 2,
    start: (upstream: string) => startUnbound({ upstream, numQueriesPerThread: 16 }),
    cached: (upstream: string) => startUnbound({ upstream, numQueriesPerThread: 16, cache: true }),
  },
};

describe.skipIf(!available)('the adaptive gate behind real routers', () => {
  let knot: KnotServer | undefined;
  const figures: string[] = [];

  beforeAll(async () => {
    knot = await startKnot({ zones: { [`${BULK_ORIGIN}.`]: bulkZone(LOOKUPS) } });
  }, 30_000);
  afterAll(async () => {
    await knot?.stop();
    console.log(`routers:\n${figures.join('\n')}`);
  }, 30_000);

  /**
   * `lookups` distinct MX lookups through `router` (behind a relay that delays each query to knotd
   * by `lineMs`, when set) at `ceiling`, the i-th asking `nameAt(i)`: checks none is lost and every
   * answer is right, returns what the counting relay in front of the router saw and the limit.
   */
  async function through(
    label: string,
    start: (upstream: string) => Promise<{ server: string; stop(): Promise<void> }>,
    ceiling: number,
    lookups: number,
    lineMs = 0,
    nameAt = nameOf,
    clients = 1,
  ) {
    const line = lineMs > 0 ? await startLine(knot!.server, lineMs) : undefined;
    const router = await start(line?.server ?? knot!.server);
    const relay = await startRelay(router.server);
    // Every query sent that did not come back with a real answer was refused or dropped.
    let answered = 0;
    const onOutcome = (m: unknown) => {
      const { outcome, rcode } = m as { outcome: string; rcode?: string };
      if (outcome === 'answer' && rcode !== 'REFUSED') answered++;
    };
    subscribe('dnsgate:query:outcome', onOutcome);
    // The working limit, sampled every 5 ms over the run.
    const limits: number[] = [];
    // `clients` resolvers, each with its own gate, share the lookups (the i-th asks every
    // clients-th name from i), all at once.
    const resolvers = Array.from(
      { length: clients },
      () => new Resolver({ servers: [relay.server], concurrency: ceiling, coalesce: false }),
    );
    const resolver = resolvers[0]!;
    const sampler = setInterval(() => {
      limits.push(resolver.limits[0]?.limit ?? 0);
    }, 5);
    const started = performance.now();
    let results: PromiseSettledResult<Array<{ exchange: string; priority: number }>>[];
    try {
      results = await Promise.allSettled(
        Array.from({ length: lookups }, (_, i) => resolvers[i % clients]!.resolveMx(nameAt(i))),
      );
    } finally {
      clearInterval(sampler);
      unsubscribe('dnsgate:query:outcome', onOutcome);
    }
    const ms = performance.now() - started;
    const counts = await relay.counts();
    await relay.stop();
    await router.stop();
    await line?.stop();
    const sent = resolvers.reduce((n, r) => n + r.stats.sent, 0);
    const lossy = sent - answered;
    const [view] = resolver.limits;
    const peak = Math.max(0, ...limits);
    const sorted = [...limits].sort((a, b) => a - b);
    const medianLimit = sorted[Math.floor(sorted.length / 2)] ?? 0;
    figures.push(
      `${label.split(' ')[0]}${clients > 1 ? ` (${clients} clients)` : ''}${nameAt !== nameOf ? ' (cache on)' : ''}${lineMs > 0 ? ` (${lineMs} ms line)` : ''} ceiling ${ceiling}: ${results.filter((r) => r.status === 'rejected').length} lost, ${lossy} of ${sent} sent refused or dropped (${((lossy / sent) * 100).toFixed(2)}%), ${ms.toFixed(0)} ms, limit now ${view?.limit} (median ${medianLimit}, peak ${peak}, edge ${view?.edge ?? '-'}), held by the router p95 ${counts.p95} (copies it dropped counted: ${counts.p95WithDropped}; at arrivals ${counts.p95AtArrival}) max ${counts.max} of ${counts.queries} queries`,
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    results.forEach((r, i) => {
      expect((r as PromiseFulfilledResult<unknown>).value).toEqual([
        { exchange: `mx1.${nameAt(i)}`, priority: 10 },
      ]);
    });
    expect(lossy / sent).toBeLessThanOrEqual(0.05);
    // (The relay counts a name asked again while in flight at the same port once, as routers do.)
    if (nameAt === nameOf) expect(counts.queries).toBeGreaterThanOrEqual(lookups);
    return { counts, medianLimit };
  }

  describe.each(Object.entries(ROUTERS))('%s', (label, { size, over, start, cached }) => {
    it.each([16, 200, 1000])(
      `ceiling %i: ${LOOKUPS.toLocaleString('en')} lookups, none lost, every answer right, refused or dropped <= 5% of tries, p95 held by the router <= its limit (+ ${over} for CI)`,
      async (ceiling) => {
        const { counts } = await through(label, start, ceiling, LOOKUPS);
        // The issue's target. Measured on loopback: dnsmasq 9-20 in every reading since the limit
        // rests at the cut after a queue-bound REFUSED (60 runs); resting just under an edge read
        // high, 21-22 in about one run in twelve (22 twice in fresh-clone CI runs); before the rule
        // for queue-bound routers, 29-33 (it refuses only past about 24-30 offered, and a
        // loss-based controller settles where loss begins). unbound 16 in all 40 readings since
        // copies it dropped no longer count as held (they did until the answer to the copy sent
        // again: 17-20 in about one run of seven, sampled by a timer); counted so, it may be a
        // little over, the client's overshoot past what the router takes. Held here to the limit
        // + 2, for CI's noisy neighbours: the code before the rule for queue-bound routers fails it
        // (27-28); the code before the rest at the cut passes it (its 21-22 are within the + 2).
        expect(counts.p95).toBeLessThanOrEqual(size + over);
        expect(counts.p95WithDropped).toBeLessThanOrEqual(size + Math.max(over, 4));
      },
      60_000,
    );

    // A home router on a real line: its slots are held by the upstream's latency (20 ms here), not
    // by its own speed, and the queries on their way to it are few beside those it holds. The
    // issue's target: dnsmasq 20 in every run, unbound 16 (and 17 once in CI, when a copy it
    // dropped still counted as held).
    it(`ceiling 1000, behind a ${LINE_MS} ms line: ${LINE_LOOKUPS.toLocaleString('en')} lookups, none lost, every answer right, refused or dropped <= 5%, p95 held by the router <= its limit (+ 2 in CI)`, async () => {
      const { counts } = await through(label, start, 1000, LINE_LOOKUPS, LINE_MS);
      // At its limit in every run, dnsmasq's exactly so; + 2 for CI's noisy neighbours.
      expect(counts.p95).toBeLessThanOrEqual(size + 2);
    }, 60_000);

    // A home router with its cache on: a hit is answered in a millisecond, a miss waits 70 ms on
    // the line, past the guard's floor, so the first misses are found overdue and sent again. Their
    // first copies' answers show them late: the cuts are taken back and the guard learns the wait.
    // Before, every miss read as a drop: the limit fell to 1 and stayed (dnsmasq 35 s, unbound 11 s,
    // against 4-5 s).
    it(`cache on, misses over a ${MISS_MS} ms line: ${CACHED_LOOKUPS.toLocaleString('en')} lookups of ${CACHED_NAMES.toLocaleString('en')} names, none lost, every answer right, the limit not taken down by slow misses`, async () => {
      const { counts, medianLimit } = await through(label, cached, 200, CACHED_LOOKUPS, MISS_MS, (i) =>
        nameOf(cachedOrder[i]!),
      );
      // Over the run, not at its end: a drop in the last milliseconds may cut it once or twice
      // (unbound's limit ended at 9 of 16 in one CI run).
      expect(medianLimit).toBeGreaterThanOrEqual(size / 2);
      // The relay counts the hits on their way too.
      expect(counts.p95).toBeLessThanOrEqual(2 * size);
    }, 60_000);
  });

  // Two clients, each with its own gate, on one router: both finish, and between them they do not
  // hold much more of it than one would. (dnsmasq on loopback is queue-bound: each rests below what
  // the router held of its queries when it refused. The code before that rule held it at p95
  // 34-38; with it, told from the third REFUSED, 19-24 and 29 once in 20.)
  it(`dnsmasq, two clients at ceiling 200 sharing it: ${LOOKUPS.toLocaleString('en')} lookups, none lost, every answer right, p95 held by the router <= its limit + 5`, async () => {
    const [label, { size, start }] = Object.entries(ROUTERS)[0]!;
    const { counts } = await through(label, start, 200, LOOKUPS, 0, nameOf, 2);
    // 17-22 in 14 runs (their gates learn apart: one may rest low while the other takes more).
    expect(counts.p95).toBeLessThanOrEqual(size + 5);
  }, 60_000);
});
