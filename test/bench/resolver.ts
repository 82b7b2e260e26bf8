// Question: how fast is dnsgate against the other Node DNS clients, at the concurrency a user
// would pick? MX queries against knotd on loopback (the built-in test server when knot is
// missing), every client in a fresh process per run, rounds interleaved so machine drift hits
// every client alike. Prints one markdown table. Run: npm run bench [-- --queries 20000 --rounds 3 --levels 2,16,128]
// `--server-workers 1`: knotd with one UDP worker instead of two: on a 2-core host its two workers
// and the client are three busy threads on two cores, and a client whose ports reach both workers
// loses its core to them now and then (one port, as dns-socket's, reaches one).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { findBinary } from '../helpers/bin.js';
import { startKnot } from '../helpers/knot.js';
import { benchZone } from './zone.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const QUERIES = arg('queries', 20_000);
const WARMUP = arg('warmup', 1_000);
const ROUNDS = arg('rounds', 3);
const NAMES = 10_000;
const SERVER_WORKERS = arg('server-workers', 2);
const levelsArg = process.argv.indexOf('--levels');
/** `--levels 16,128`: only those concurrency levels. */
const LEVELS = levelsArg > 0 ? process.argv[levelsArg + 1]!.split(',').map(Number) : [2, 16, 128];
const ALL_CLIENTS = ['dnsgate', 'node', 'dns-socket', 'dns2', 'dgram'];
// `--clients dnsgate,dnsgate-before,node,dns-socket`: a subset, or dnsgate against an earlier build
// (DNSGATE_BEFORE=/path/to/that/checkout, built).
const clientsArg = process.argv.indexOf('--clients');
const CLIENTS = clientsArg > 0 ? process.argv[clientsArg + 1]!.split(',') : ALL_CLIENTS;
/** The clients dnsgate is compared with; `dgram` is a reference, not a DNS client. */
const PEERS = ['node', 'dns-socket', 'dns2'].filter((p) => CLIENTS.includes(p));
const LABEL: Record<string, string> = {
  dnsgate: 'dnsgate',
  'dnsgate-before': 'dnsgate (before)',
  node: "node's dns.promises.Resolver",
  'dns-socket': 'dns-socket',
  dns2: 'dns2',
  dgram: '(reference) bare `node:dgram`',
};

const zone = () => benchZone(NAMES);

interface Row {
  client: string;
  concurrency: number;
  qps: number;
  lost: number;
  cpuUs: number;
  /** Latency of one lookup, ms: median and 99th percentile of the run. */
  p50: number;
  p99: number;
  peakRss: number;
  ports: number;
}

function measure(client: string, server: string, concurrency: number): Promise<Row> {
  const child = spawn(
    process.execPath,
    [
      new URL('./client-child.mjs', import.meta.url).pathname,
      client,
      server,
      String(concurrency),
      String(QUERIES),
      String(WARMUP),
      String(NAMES),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return once(createInterface({ input: child.stdout! }), 'line').then(([line]) => JSON.parse(line as string));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// The server: knotd if installed, else the built-in test server in its own process.
let server: string;
let stop: () => Promise<void>;
let serverLabel: string;
if (findBinary('knotd')) {
  const knot = await startKnot({ zones: { 'bench.test.': zone() }, udpWorkers: SERVER_WORKERS });
  server = knot.server;
  stop = () => knot.stop();
  serverLabel = `knotd (${execFileSync(findBinary('knotd')!, ['--version']).toString().trim()}, ${SERVER_WORKERS} UDP worker${SERVER_WORKERS === 1 ? '' : 's'})`;
} else {
  console.log(
    'NOTE: knotd not found (apt-get install -y knot knot-dnsutils dnsperf): using the built-in test server, which is far slower.\n',
  );
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-bench-'));
  writeFileSync(join(dir, 'bench.zone'), zone());
  const serve = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./serve.ts', import.meta.url).pathname, join(dir, 'bench.zone')],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  [server] = (await once(createInterface({ input: serve.stdout! }), 'line')) as [string];
  stop = async () => {
    serve.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  serverLabel = 'the built-in test server';
}

const results: Row[] = [];
for (const c of LEVELS) {
  for (let round = 0; round < ROUNDS; round++) {
    for (const client of CLIENTS) results.push(await measure(client, server, c));
  }
}

// dnsperf: the machine's ceiling for this server, at the largest concurrency.
let dnsperf = 'not installed (apt-get install -y dnsperf)';
const dnsperfBin = findBinary('dnsperf');
if (dnsperfBin) {
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-dnsperf-'));
  const file = join(dir, 'queries');
  writeFileSync(file, Array.from({ length: NAMES }, (_, i) => `d${i}.bench.test MX`).join('\n'));
  const [host, port] = server.split(':');
  const out = spawnSync(
    dnsperfBin,
    [
      '-s',
      host!,
      '-p',
      port!,
      '-d',
      file,
      '-c',
      '1',
      '-q',
      '128',
      '-n',
      String(Math.ceil(QUERIES / NAMES) * 2),
    ],
    {
      encoding: 'utf8',
    },
  );
  const m = /Queries per second:\s+([\d.]+)/.exec(out.stdout);
  dnsperf = m
    ? `${Number(m[1]).toFixed(0)} q/s (1 client, 128 outstanding)`
    : `failed: ${out.stderr.trim() || out.stdout.trim()}`;
  rmSync(dir, { recursive: true, force: true });
}
await stop();

const semaphore = spawnSync(
  process.execPath,
  ['--import', 'tsx', new URL('./semaphore.ts', import.meta.url).pathname],
  {
    encoding: 'utf8',
  },
).stdout;

console.log(
  `${QUERIES.toLocaleString('en')} MX queries per run after ${WARMUP.toLocaleString('en')} warm-up, ${ROUNDS} rounds interleaved, medians; server: ${serverLabel} on loopback.`,
);
console.log(
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}. dnsperf ceiling: ${dnsperf}.\n`,
);
console.log(
  '| c | client | q/s | range | × node | × dns-socket | × best peer | lost | p50 / p99 ms | CPU µs/query | peak RSS | ports / 1,000 queries |',
);
console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const c of LEVELS) {
  const stat = (client: string) => {
    const rows = results.filter((r) => r.client === client && r.concurrency === c);
    return {
      qps: median(rows.map((r) => r.qps)),
      qpsMin: Math.min(...rows.map((r) => r.qps)),
      qpsMax: Math.max(...rows.map((r) => r.qps)),
      cpu: median(rows.map((r) => r.cpuUs)),
      rss: Math.max(...rows.map((r) => r.peakRss)),
      lost: rows.reduce((n, r) => n + r.lost, 0),
      ports: median(rows.map((r) => r.ports)),
      p50: median(rows.map((r) => r.p50)),
      p99: median(rows.map((r) => r.p99)),
    };
  };
  // A peer left out with --clients gives an empty column rather than NaN×.
  const times = (qps: number, peer: string) =>
    CLIENTS.includes(peer) ? `${(qps / stat(peer).qps).toFixed(2)}×` : '';
  const bestPeer = Math.max(...PEERS.map((x) => stat(x).qps));
  for (const client of CLIENTS) {
    const s = stat(client);
    const vsPeer = client === 'dnsgate' ? `${(s.qps / bestPeer).toFixed(2)}×` : '';
    console.log(
      `| ${c} | ${LABEL[client]} | ${s.qps.toFixed(0)} | ${s.qpsMin.toFixed(0)}–${s.qpsMax.toFixed(0)} | ${times(s.qps, 'node')} | ${times(s.qps, 'dns-socket')} | ${vsPeer} | ${s.lost} | ${s.p50.toFixed(2)} / ${s.p99.toFixed(2)} | ${s.cpu.toFixed(1)} | ${(s.rss / 2 ** 20).toFixed(0)} MiB | ${s.ports} |`,
    );
  }
}
console.log(`\n${semaphore.trim()}`);
