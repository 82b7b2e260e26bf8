// Question: what does sharing one budget through Redis cost? 1, 2 and 4 processes resolve 40,000
// MX lookups in all against knotd, under one cluster-wide gate of 128 (dnsgate/redis), against the
// same processes each with a local gate of 128 / N (the same queries in flight). Adaptive gate off
// in both (knotd loses nothing). Rounds interleaved, the order within a pair alternating; q/s = all
// queries / (last end - first start).
// Run: npm run bench:redis [-- --rounds 3 --queries 40000 --procs 1,2,4]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { BULK_ORIGIN, bulkZone } from '../helpers/bulk-zone.js';
import { startKnot } from '../helpers/knot.js';
import { startRedis } from '../helpers/redis.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg('rounds', 3);
const PROCS = process.argv.includes('--procs')
  ? process.argv[process.argv.indexOf('--procs') + 1]!.split(',').map(Number)
  : [1, 2, 4];
const QUERIES = arg('queries', 40_000);
const LIMIT = 128;
const NAMES = 10_000;
const child = new URL('./redis-child.ts', import.meta.url).pathname;

const knot = await startKnot({ zones: { [`${BULK_ORIGIN}.`]: bulkZone(NAMES) } });
const redis = await startRedis();
// A Redis younger than a lease grants only what is held (the restart guard): let it age.
await new Promise((r) => setTimeout(r, 6100));
const probe = new Redis(redis.url);

async function commands(): Promise<number> {
  const info = await probe.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) n += Number(m[2]);
  return n;
}

interface Row {
  qps: number[];
  calls: number[];
}
const rows = new Map<string, Row>();
let key = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const n of PROCS) {
    // Which runs first alternates by round: in one pair, the first ran up to 15% faster either way.
    const order: Array<'cluster' | 'local'> = round % 2 === 0 ? ['cluster', 'local'] : ['local', 'cluster'];
    for (const mode of order) {
      const startAt = Date.now() + 1500 + 300 * n;
      const before = await commands();
      const kids = Array.from({ length: n }, () =>
        spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            child,
            JSON.stringify({
              mode,
              url: redis.url,
              key: `bench-${key}`,
              limit: LIMIT,
              concurrency: LIMIT / n,
              server: knot.server,
              queries: QUERIES / n,
              names: NAMES,
              startAt,
            }),
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        ),
      );
      key++;
      const outs = await Promise.all(
        kids.map(async (k) => {
          let text = '';
          k.stdout!.on('data', (d) => {
            text += d;
          });
          await once(k, 'close');
          return JSON.parse(text.trim().split('\n').pop()!) as {
            startedAt: number;
            endedAt: number;
            calls: number;
            lost: number;
          };
        }),
      );
      const calls = (await commands()) - before;
      const span = Math.max(...outs.map((o) => o.endedAt)) - Math.min(...outs.map((o) => o.startedAt));
      const qps = QUERIES / (span / 1000);
      const label = `${n}\t${mode}`;
      const row = rows.get(label) ?? { qps: [], calls: [] };
      row.qps.push(qps);
      row.calls.push(calls);
      rows.set(label, row);
      process.stderr.write(
        `round ${round + 1}: ${n} process(es), ${mode}: ${qps.toFixed(0)} q/s, ${calls} lease calls, lost ${outs.reduce((a, o) => a + o.lost, 0)}\n`,
      );
    }
  }
}
probe.disconnect();
await redis.stop();
await knot.stop();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log('| processes | gate | q/s, median (range) | lease calls per run (queries per call) |');
console.log('|---:|---|---|---|');
for (const [label, row] of rows) {
  const [n, mode] = label.split('\t');
  const calls = median(row.calls);
  console.log(
    `| ${n} | ${mode === 'cluster' ? 'cluster (Redis), 128 across all' : `local, ${LIMIT / Number(n)} each`} | ${median(row.qps).toFixed(0)} (${Math.min(...row.qps).toFixed(0)}–${Math.max(...row.qps).toFixed(0)}) | ${mode === 'cluster' ? `${calls} (${(QUERIES / Math.max(1, calls)).toFixed(0)})` : '–'} |`,
  );
}
