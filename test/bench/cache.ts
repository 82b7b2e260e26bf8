// The TTL cache on a bulk job, against knotd on loopback (a wildcard zone: every name has an MX):
//   repeat:   1,000,000 MX lookups drawn at random (seeded) from 20,000 distinct domains, as a
//             mailing list is, without the cache, with a cache that holds them all, and with the
//             default cache (5,000 entries: the LRU keeps a quarter of them);
//   flat:     1,000,000 distinct names through a cache of 10,000 entries: RSS along the way;
//   entry:    memory per cached answer (heap before and after clearing a cache of 50,000 MX answers).
// Each mode runs in a plain-node child (test/bench/cache-child.mjs, against the built package),
// so its peak RSS is its own. Usage: npm run bench:cache [-- --lookups 1000000 --distinct 20000]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { startKnot } from '../helpers/knot.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const LOOKUPS = arg('lookups', 1_000_000);
const DISTINCT = arg('distinct', 20_000);
const CONCURRENCY = arg('concurrency', 128);
const child = new URL('./cache-child.mjs', import.meta.url).pathname;

const knot = await startKnot({
  zones: {
    'cache.test.': [
      '$ORIGIN cache.test.',
      '$TTL 3600',
      '@ SOA ns1 hostmaster 1 900 900 1800 60',
      '@ NS ns1',
      'ns1 A 192.0.2.53',
      '* MX 10 mx1.cache.test.',
      '',
    ].join('\n'),
  },
});

async function runChild(mode: string, extra: string[] = []): Promise<Record<string, number | string>> {
  const c = spawn(
    process.execPath,
    [...extra, child, mode, knot.server, String(LOOKUPS), String(DISTINCT), String(CONCURRENCY)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(createInterface({ input: c.stdout! }), 'line')) as [string];
  await once(c, 'close');
  return JSON.parse(line);
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
try {
  console.log(
    `knotd on loopback, concurrency ${CONCURRENCY}, node ${process.version}; ${LOOKUPS.toLocaleString('en')} MX lookups\n`,
  );
  console.log(`Drawn at random from ${DISTINCT.toLocaleString('en')} domains:\n`);
  console.log('| cache | queries sent | hits | q/s (lookups) | seconds | peak RSS | failed |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const mode of ['none', 'all', 'default']) {
    const r = await runChild(mode);
    const label =
      mode === 'none'
        ? 'off'
        : mode === 'all'
          ? `\`{ maxEntries: ${DISTINCT.toLocaleString('en')} }\``
          : '`true` (5,000 entries)';
    console.log(
      `| ${label} | ${Number(r.sent).toLocaleString('en')} | ${Number(r.hits).toLocaleString('en')} | ${Number(r.qps).toFixed(0)} | ${Number(r.seconds).toFixed(1)} | ${mb(Number(r.peakRss))} | ${r.failed} |`,
    );
  }
  const flat = await runChild('flat');
  console.log(
    `\n${LOOKUPS.toLocaleString('en')} distinct names through a cache of 10,000: ${Number(flat.qps).toFixed(0)} q/s, RSS after 10% / 50% / 100% of the run: ${mb(Number(flat.rss10))} / ${mb(Number(flat.rss50))} / ${mb(Number(flat.rss100))}, peak ${mb(Number(flat.peakRss))}; cache size ${flat.size}, failed ${flat.failed}`,
  );
  const entry = await runChild('entry', ['--expose-gc']);
  console.log(
    `Memory per cached MX answer: ${Number(entry.perEntry).toFixed(0)} bytes of heap (and buffers), over ${Number(entry.entries).toLocaleString('en')} entries`,
  );
} finally {
  await knot.stop();
}
