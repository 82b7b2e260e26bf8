// One mode of test/bench/cache.ts, in plain node against the built package. Prints one JSON line.
import { subscribe } from 'node:diagnostics_channel';
import { Resolver } from '../../dist/index.js';
import { seeded } from '../../dist/testing/index.js';

const [mode, server, lookupsArg, distinctArg, concurrencyArg] = process.argv.slice(2);
const LOOKUPS = Number(lookupsArg);
const DISTINCT = Number(distinctArg);
const CONCURRENCY = Number(concurrencyArg);

function* drawn(n) {
  const next = seeded(1); // the same draw on every run and in every mode
  for (let i = 0; i < n; i++) yield `d${Math.floor(next() * DISTINCT)}.cache.test`;
}
function* distinct(n, from = 0) {
  for (let i = from; i < from + n; i++) yield `u${i}.cache.test`;
}

let hits = 0;
subscribe('dnsgate:cache:hit', () => hits++);
let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 50);
const cache =
  mode === 'none'
    ? false
    : mode === 'all'
      ? { maxEntries: DISTINCT }
      : mode === 'flat'
        ? { maxEntries: 10_000 }
        : mode === 'entry'
          ? { maxEntries: 50_000 }
          : true;
const resolver = new Resolver({ servers: [server], concurrency: CONCURRENCY, cache });
const out = { mode };
let ok = 0;
let failed = 0;
const t0 = performance.now();
if (mode === 'entry') {
  const n = 50_000;
  for await (const r of resolver.resolveEach(distinct(n), 'MX')) r.ok ? ok++ : failed++;
  globalThis.gc();
  globalThis.gc();
  const full = process.memoryUsage();
  resolver.cache.clear();
  globalThis.gc();
  globalThis.gc();
  const empty = process.memoryUsage();
  const used = (m) => m.heapUsed + m.arrayBuffers;
  Object.assign(out, { entries: n, perEntry: (used(full) - used(empty)) / n });
} else {
  const names = mode === 'flat' ? distinct(LOOKUPS) : drawn(LOOKUPS);
  let settled = 0;
  for await (const r of resolver.resolveEach(names, 'MX')) {
    r.ok ? ok++ : failed++;
    settled++;
    if (mode === 'flat' && (settled === LOOKUPS / 10 || settled === LOOKUPS / 2)) {
      out[settled === LOOKUPS / 10 ? 'rss10' : 'rss50'] = process.memoryUsage().rss;
    }
  }
  out.rss100 = process.memoryUsage().rss;
  out.size = resolver.cache?.size ?? 0;
}
const seconds = (performance.now() - t0) / 1000;
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024);
Object.assign(out, {
  ok,
  failed,
  hits,
  sent: resolver.stats.sent,
  seconds,
  qps: (ok + failed) / seconds,
  peakRss: peak,
});
console.log(JSON.stringify(out));
