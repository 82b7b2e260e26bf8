// Question: which socket plan (`queriesPerSocket` k, `socketReuse`) is fastest, and at what tail?
// Several dnsgate settings and peers, each run in a fresh process by the same child as
// `npm run bench` (client-child.mjs: 20,000 MX after 1,000 warm-up), against knotd on loopback,
// every setting once per round, rounds interleaved. Run (after `npm run build`):
//   npx tsx test/bench/sweep.ts ROUNDS LEVELS SETTINGS
//   npx tsx test/bench/sweep.ts 5 2,16,128 'dnsgate:;dnsgate-k8:DNSGATE_K=8,DNSGATE_REUSE=1000;dns-socket:'
// A setting is `name:ENV=value,...`; a name starting with `dnsgate` runs dnsgate with that
// environment (DNSGATE_K, DNSGATE_REUSE, DNSGATE_ADAPTIVE: see client-child.mjs), one starting with
// `dnsgate-before` the build in DNSGATE_BEFORE, any other name is that client (node, dns-socket,
// dns2, dgram). WORKERS=1: knotd with one UDP worker.
import { spawnSync } from 'node:child_process';
import { startKnot } from '../helpers/knot.js';
import { benchZone } from './zone.js';

const [roundsArg, levelsArg, settingsArg] = process.argv.slice(2);
const ROUNDS = Number(roundsArg ?? 3);
const LEVELS = (levelsArg ?? '16').split(',').map(Number);
const SETTINGS = (settingsArg ?? 'dnsgate:;dns-socket:').split(';').map((text) => {
  const [name, env = ''] = text.split(':');
  const pairs = env
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=') as [string, string]);
  return { name: name!, env: Object.fromEntries(pairs) };
});

const knot = await startKnot({
  zones: { 'bench.test.': benchZone(10_000) },
  udpWorkers: Number(process.env.WORKERS ?? 2),
});

interface Run {
  qps: number;
  p99: number;
  cpuUs: number;
  ports: number;
  /** dnsgate's tries counted as lost by its adaptive gate. */
  losses?: number;
}
const runs = new Map<string, Run[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const c of LEVELS) {
    for (const { name, env } of SETTINGS) {
      const client = name.startsWith('dnsgate-before')
        ? 'dnsgate-before'
        : name.startsWith('dnsgate')
          ? 'dnsgate'
          : name;
      const child = new URL('./client-child.mjs', import.meta.url).pathname;
      const out = spawnSync(
        process.execPath,
        [child, client, knot.server, String(c), '20000', '1000', '10000'],
        {
          encoding: 'utf8',
          env: { ...process.env, ...env },
        },
      );
      const line = out.stdout.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined) throw new Error(`${name} at c=${c}: ${out.stderr.slice(0, 500)}`);
      const key = `${c} ${name}`;
      runs.set(key, [...(runs.get(key) ?? []), JSON.parse(line) as Run]);
    }
  }
}
await knot.stop();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const span = (xs: number[], digits: number) =>
  `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
console.log('| c | setting | q/s median (range) | p99 ms | CPU µs/query | ports / 1,000 | losses |');
console.log('|---:|---|---:|---:|---:|---:|---:|');
for (const [key, rs] of runs) {
  const [c, name] = key.split(' ');
  const qps = rs.map((r) => r.qps);
  console.log(
    `| ${c} | ${name} | ${Math.round(median(qps))} (${span(qps, 0)}) | ${span(
      rs.map((r) => r.p99),
      2,
    )} | ${span(
      rs.map((r) => r.cpuUs),
      1,
    )} | ${span(
      rs.map((r) => r.ports),
      0,
    )} | ${rs.map((r) => r.losses ?? '-').join('/')} |`,
  );
}
