// The seed story, with real software: a bulk MX job behind a home router. dnsmasq (what many home
// routers run) forwards to Knot DNS, caches nothing, and holds at most 20 forwarded queries at once
// (`dns-forward-max`); past that it refuses. 2,000 lookups for distinct names are fired at once;
// dnsgate's gate decides how many reach the router together.
//
// Knot on loopback needs no added latency to make this honest (measured: with a gate of 200, 450 to
// 1,700 of 2,000 lookups were refused, and even a gate of 21 lost some): dnsgate refills a permit the
// moment an answer comes back, so the router holds about as many forwarded queries as the gate
// allows, and the limit is crossed by the gate alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resolver } from '../src/index.js';
import { requireBinaries } from './helpers/bin.js';
import { BULK_ORIGIN, bulkName, bulkZone } from './helpers/bulk-zone.js';
import { type DnsmasqServer, startDnsmasq } from './helpers/dnsmasq.js';
import { type KnotServer, startKnot } from './helpers/knot.js';

const available = requireBinaries(['knotd', 'knotc', 'dnsmasq'], 'test/home-router.test.ts');

const FORWARD_MAX = 20;
const ZONE_NAMES = 2100;
const LOOKUPS = 2000;
// Distinct names, so dnsmasq cannot merge identical queries in flight into one forward.
const nameOf = bulkName;

/** What one burst came to. */
interface Burst {
  gate: number;
  failed: number;
  /** Failures per error code, e.g. `{ EREFUSED: 774 }`. */
  codes: Record<string, number>;
  /** Queries knot received during the burst (every one that dnsmasq forwarded). */
  reachedKnot: number;
  /** Whether dnsmasq logged that it hit dns-forward-max. */
  routerFull: boolean;
  /** The MX answers, in lookup order; undefined where the lookup failed. */
  answers: Array<Array<{ exchange: string; priority: number }> | undefined>;
}

const summary = (b: Burst) => {
  const codes = Object.entries(b.codes)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  return `gate ${b.gate} → ${b.failed}/${LOOKUPS} failed${codes ? ` (${codes})` : ''}`;
};

describe.skipIf(!available)(
  `a bulk MX job through a home router (dnsmasq, dns-forward-max ${FORWARD_MAX})`,
  () => {
    let knot: KnotServer | undefined;
    const routers = new Set<DnsmasqServer>();
    const figures: string[] = [];

    beforeAll(async () => {
      knot = await startKnot({ zones: { [`${BULK_ORIGIN}.`]: bulkZone(ZONE_NAMES, true) } });
    }, 20_000);

    afterAll(async () => {
      await Promise.all([...routers].map((r) => r.stop()));
      await knot?.stop();
      if (figures.length > 0) console.log(`home-router: ${figures.join('; ')}`);
    }, 20_000);

    // A fresh dnsmasq per burst, so no burst inherits forwards still held from the one before.
    async function burst(concurrency: number | undefined, adaptive = false): Promise<Burst> {
      const router = await startDnsmasq({ upstream: knot!.server, forwardMax: FORWARD_MAX });
      routers.add(router);
      // tries: 1, so a refused or lost query counts as lost rather than being retried; 2 s is far
      // beyond a loopback round trip even on a busy CI machine. The fixed gate unless `adaptive`.
      const resolver = new Resolver({
        servers: [router.server],
        concurrency,
        tries: 1,
        timeout: 2000,
        adaptive,
      });
      let results: PromiseSettledResult<Array<{ exchange: string; priority: number }>>[];
      let reachedKnot: number;
      try {
        const before = await knot!.stats();
        results = await Promise.allSettled(
          Array.from({ length: LOOKUPS }, (_, i) => resolver.resolveMx(nameOf(i))),
        );
        reachedKnot = (await knot!.stats()).udp4 - before.udp4;
      } finally {
        await router.stop();
        routers.delete(router);
      }
      const codes: Record<string, number> = {};
      for (const r of results) {
        if (r.status === 'rejected') {
          const code = String((r.reason as { code?: unknown }).code);
          codes[code] = (codes[code] ?? 0) + 1;
        }
      }
      const b: Burst = {
        gate: resolver.semaphore.limit,
        failed: results.filter((r) => r.status === 'rejected').length,
        codes,
        reachedKnot,
        // Read once dnsmasq has exited and its stderr is drained, so no line is still in the pipe.
        routerFull: /Maximum number of concurrent DNS queries reached/.test(router.log()),
        answers: results.map((r) => (r.status === 'fulfilled' ? r.value : undefined)),
      };
      figures.push(summary(b));
      console.log(
        `home-router: ${summary(b)}; knot received ${b.reachedKnot}; dnsmasq full: ${b.routerFull}`,
      );
      return b;
    }

    it('a fixed gate of 200, ten times the router limit: the router refuses part of the job', async () => {
      const b = await burst(200);
      expect(b.failed).toBeGreaterThan(0);
      // Refused at the router (or, on a dnsmasq that drops instead, timed out); nothing else.
      expect(Object.keys(b.codes).filter((c) => c !== 'EREFUSED' && c !== 'ETIMEOUT')).toEqual([]);
      expect(b.routerFull).toBe(true);
      // The lost lookups never got past the router: knot saw exactly the ones that succeeded.
      expect(b.reachedKnot).toBe(LOOKUPS - b.failed);
    }, 20_000);

    it.each([
      [`a fixed gate of ${FORWARD_MAX}, at the limit`, FORWARD_MAX, false],
      ['a fixed gate of 16 (the default concurrency)', undefined, false],
      ['the adaptive gate with a ceiling of 200', 200, true],
      ['the adaptive gate with a ceiling of 1,000', 1000, true],
    ] as const)(
      '%s: every lookup succeeds, with the right answer',
      async (_label, gate, adaptive) => {
        const b = await burst(gate, adaptive);
        expect(b.codes).toEqual({});
        expect(b.failed).toBe(0);
        // The adaptive gate finds the limit by crossing it now and then: refused tries are asked again.
        if (!adaptive) expect(b.routerFull).toBe(false);
        expect(b.reachedKnot).toBe(LOOKUPS);
        b.answers.forEach((mx, i) => {
          const name = nameOf(i);
          expect(mx?.slice().sort((x, y) => x.priority - y.priority)).toEqual([
            { exchange: `mx1.${name}`, priority: 10 },
            { exchange: `mx2.${name}`, priority: 20 },
          ]);
        });
      },
      20_000,
    );
  },
);
