// The adaptive gate against real routers from Debian, in front of knotd: dnsmasq refuses past
// `dns-forward-max` (20), unbound drops past `num-queries-per-thread` (16). 10,000 distinct MX
// lookups at ceilings of 16, 200 and 1,000, default tries and timeout: none is lost, every answer
// is right, and refused or dropped tries stay a small share of what was sent. The figures (wall
// time, share, the limit reached) are printed for the README's table.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resolver } from '../src/index.js';
import { requireBinaries } from './helpers/bin.js';
import { BULK_ORIGIN, bulkName, bulkZone } from './helpers/bulk-zone.js';
import { startDnsmasq } from './helpers/dnsmasq.js';
import { type KnotServer, startKnot } from './helpers/knot.js';
import { startUnbound } from './helpers/unbound.js';

const available = requireBinaries(['knotd', 'knotc', 'dnsmasq', 'unbound'], 'test/routers.test.ts');

const LOOKUPS = 10_000;
const nameOf = bulkName;

const ROUTERS = {
  'dnsmasq (dns-forward-max 20, refuses when full)': (upstream: string) =>
    startDnsmasq({ upstream, forwardMax: 20 }),
  'unbound (num-queries-per-thread 16, drops when full)': (upstream: string) =>
    startUnbound({ upstream, numQueriesPerThread: 16 }),
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

  describe.each(Object.entries(ROUTERS))('%s', (label, start) => {
    it.each([16, 200, 1000])(
      `ceiling %i: ${LOOKUPS.toLocaleString('en')} lookups, none lost, every answer right, refused or dropped <= 5% of tries`,
      async (ceiling) => {
        const router = await start(knot!.server);
        let lossy = 0;
        const onOutcome = (m: unknown) => {
          const { outcome, rcode } = m as { outcome: string; rcode?: string };
          if (outcome === 'timeout' || rcode === 'REFUSED') lossy++;
        };
        subscribe('dnsgate:query:outcome', onOutcome);
        let peak = 0;
        const resolver = new Resolver({ servers: [router.server], concurrency: ceiling, coalesce: false });
        const sampler = setInterval(() => {
          peak = Math.max(peak, resolver.limits[0]?.limit ?? 0);
        }, 5);
        const started = performance.now();
        let results: PromiseSettledResult<Array<{ exchange: string; priority: number }>>[];
        try {
          results = await Promise.allSettled(
            Array.from({ length: LOOKUPS }, (_, i) => resolver.resolveMx(nameOf(i))),
          );
        } finally {
          clearInterval(sampler);
          unsubscribe('dnsgate:query:outcome', onOutcome);
          await router.stop();
        }
        const ms = performance.now() - started;
        const sent = resolver.stats.sent;
        const [view] = resolver.limits;
        figures.push(
          `${label.split(' ')[0]} ceiling ${ceiling}: ${results.filter((r) => r.status === 'rejected').length} lost, ${lossy} of ${sent} tries refused or dropped (${((lossy / sent) * 100).toFixed(2)}%), ${ms.toFixed(0)} ms, limit now ${view?.limit} (peak ${peak}, edge ${view?.edge ?? '-'})`,
        );
        expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
        results.forEach((r, i) => {
          expect((r as PromiseFulfilledResult<unknown>).value).toEqual([
            { exchange: `mx1.${nameOf(i)}`, priority: 10 },
          ]);
        });
        expect(lossy / sent).toBeLessThanOrEqual(0.05);
      },
      60_000,
    );
  });
});
