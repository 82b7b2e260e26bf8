// Question: what do kept, pipelined TCP connections buy? MX queries with `tcp: 'always'` against
// knotd on loopback, at one concurrency, each run in a fresh process against a built package: this
// checkout's dist/, and (with DNSGATE_BEFORE=/path/to/another/checkout, built) that one's, rounds
// interleaved so machine drift hits both alike. The child counts the TCP connections it opens
// (node's `net.client.socket` diagnostics channel), so nothing stands between client and server.
// Run: npm run bench:tcp [-- --queries 20000 --concurrency 64 --rounds 3]
import { spawn } from 'node:child_process';
import { subscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { findBinary } from '../helpers/bin.js';
import { startKnot } from '../helpers/knot.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const QUERIES = arg('queries', 20_000);
const WARMUP = arg('warmup', 1_000);
const CONCURRENCY = arg('concurrency', 64);
const ROUNDS = arg('rounds', 3);
const NAMES = 10_000;
const HERE = fileURLToPath(new URL('../..', import.meta.url));

interface Row {
  build: string;
  qps: number;
  /** Per 1,000 queries of the measured run. */
  connections: number;
  /** Opened in all, warm-up included. */
  opened: number;
  failed: number;
  cpuUs: number;
}

/** One measurement, in this process: `--child BUILD_DIR SERVER`. Prints one JSON line. */
async function child(dir: string, server: string): Promise<void> {
  const { Resolver } = await import(`${dir}/dist/index.js`);
  let connections = 0;
  subscribe('net.client.socket', () => connections++);
  const r = new Resolver({ servers: [server], tcp: 'always', coalesce: false, timeout: 1000, tries: 3 });
  let failed = 0;
  // N workers pulling the next name: the concurrency is the workers', the gate's is the same.
  const run = async (count: number) => {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        await r.resolveMx(`d${i % NAMES}.bench.test`).catch(() => failed++);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };
  await run(WARMUP);
  const warm = connections;
  connections = 0;
  failed = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run(QUERIES);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const row: Omit<Row, 'build'> = {
    qps: QUERIES / (ms / 1000),
    connections: (connections * 1000) / QUERIES,
    opened: warm + connections,
    failed,
    cpuUs: (cpu.user + cpu.system) / QUERIES,
  };
  console.log(JSON.stringify(row));
}

function measure(build: string, dir: string, server: string): Promise<Row> {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', dir, server];
  for (const name of ['queries', 'warmup', 'concurrency']) {
    const i = process.argv.indexOf(`--${name}`);
    if (i > 0) args.push(`--${name}`, process.argv[i + 1]!);
  }
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return once(createInterface({ input: proc.stdout! }), 'line').then(([line]) => ({
    build,
    ...JSON.parse(line as string),
  }));
}

const childAt = process.argv.indexOf('--child');
if (childAt > 0) {
  await child(process.argv[childAt + 1]!, process.argv[childAt + 2]!);
} else {
  if (!findBinary('knotd')) throw new Error('knotd not found (apt-get install -y knot)');
  const lines = ['$ORIGIN bench.test.', '$TTL 3600', '@ SOA ns hostmaster 1 3600 600 86400 60', '@ NS ns'];
  for (let i = 0; i < NAMES; i++) lines.push(`d${i} MX 10 mx1.d${i}`, `d${i} MX 20 mx2.d${i}`);
  const knot = await startKnot({ zones: { 'bench.test.': `${lines.join('\n')}\n` } });
  const builds: [string, string][] = [['after', HERE]];
  if (process.env.DNSGATE_BEFORE) builds.unshift(['before', process.env.DNSGATE_BEFORE]);
  const rows: Row[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [build, dir] of builds) rows.push(await measure(build, dir, knot.server));
    }
  } finally {
    await knot.stop();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const range = (xs: number[], digits: number) =>
    `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
  console.log(
    `${QUERIES.toLocaleString('en')} MX queries over TCP (tcp: 'always') per run after ${WARMUP.toLocaleString('en')} warm-up, concurrency ${CONCURRENCY}, ${ROUNDS} rounds interleaved, medians; knotd on loopback; ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}.\n`,
  );
  console.log(
    '| build | q/s | range | TCP connections / 1,000 queries | range | opened in all (warm-up too) | CPU µs/query | failed |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const [build] of builds) {
    const mine = rows.filter((r) => r.build === build);
    const qps = mine.map((r) => r.qps);
    const conns = mine.map((r) => r.connections);
    console.log(
      `| ${build} | ${median(qps).toFixed(0)} | ${range(qps, 0)} | ${median(conns).toFixed(2)} | ${range(conns, 2)} | ${range(
        mine.map((r) => r.opened),
        0,
      )} | ${median(mine.map((r) => r.cpuUs)).toFixed(1)} | ${mine.reduce((n, r) => n + r.failed, 0)} |`,
    );
  }
}
