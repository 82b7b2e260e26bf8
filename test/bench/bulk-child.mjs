// One mode of test/bench/bulk.ts, in plain node against the built package (no TypeScript loader in
// the process, so its peak RSS is the library's and node's own). Prints one JSON line.
import { Resolver } from '../../dist/index.js';

const [mode, server, namesArg, concurrencyArg] = process.argv.slice(2);
const NAMES = Number(namesArg);
const CONCURRENCY = Number(concurrencyArg);
const domains = ['google.com', 'yahoo.com', 'microsoft.com', 'facebook.com', 'twitter.com'];
// Five names over and over: with coalescing most lookups would ride on one in flight. Every
// lookup here goes on the wire, so the figures are a million real queries.
const options = { servers: [server], concurrency: CONCURRENCY, timeout: 2000, tries: 3, coalesce: false };

function* names(n) {
  for (let i = 0; i < n; i++) yield domains[i % domains.length];
}

// The default path: coalescing on, and a few thousand distinct names, as a mailing list has.
function* distinct(n) {
  for (let i = 0; i < n; i++) yield `d${i % 3000}.bulk.test`;
}

let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 50);
const t0 = performance.now();
let ok = 0;
let failed = 0;
if (mode === 'defaults') {
  const resolver = new Resolver({ servers: [server], concurrency: CONCURRENCY });
  for await (const r of resolver.resolveEach(distinct(NAMES), 'MX')) {
    if (r.ok) ok++;
    else failed++;
  }
} else if (mode.startsWith('stream')) {
  const resolver = new Resolver(options);
  for await (const r of resolver.resolveEach(names(NAMES), 'MX')) {
    if (r.ok) ok++;
    else failed++;
  }
} else {
  // The usual way: every promise up front, p-limit holding all but `concurrency` of them back.
  const { default: pLimit } = await import('p-limit');
  const limit = pLimit(CONCURRENCY);
  const resolver = new Resolver(options);
  const all = await Promise.allSettled(Array.from(names(NAMES), (n) => limit(() => resolver.resolveMx(n))));
  for (const r of all) {
    if (r.status === 'fulfilled') ok++;
    else failed++;
  }
}
const seconds = (performance.now() - t0) / 1000;
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024);
console.log(JSON.stringify({ mode, ok, failed, seconds, qps: NAMES / seconds, peakRss: peak }));
