// Queries per second, dnsgate vs node's dns.promises.Resolver, same server, same names, same gate.
// Usage: npm run bench [-- --queries 20000 --rounds 3]
import { spawn } from 'node:child_process';
import { promises as dns } from 'node:dns';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Resolver } from '../src/index.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const QUERIES = arg('queries', 20_000);
const WARMUP = arg('warmup', 1_000);
const ROUNDS = arg('rounds', 3);
const LEVELS = [2, 16, 128];
const domains = ['google.com', 'yahoo.com', 'microsoft.com', 'facebook.com', 'twitter.com'];

type Lookup = (name: string) => Promise<unknown>;

/** N workers pull names until `count` lookups are done: a lazy gate, the same for every client. */
async function drive(
  lookup: Lookup,
  concurrency: number,
  count: number,
): Promise<{ qps: number; lost: number }> {
  let next = 0;
  let lost = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < count) {
      const name = domains[next++ % domains.length]!;
      await lookup(name).catch(() => lost++);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { qps: count / ((performance.now() - start) / 1000), lost };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const child = spawn(process.execPath, ['--import', 'tsx', new URL('./serve.ts', import.meta.url).pathname], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const [server] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];

const clients: Record<string, (c: number) => Lookup> = {
  dnsgate: (c) => {
    const r = new Resolver({ servers: [server], concurrency: c, timeout: 2000, tries: 2 });
    return (name) => r.resolveMx(name);
  },
  'node Resolver': () => {
    const r = new dns.Resolver({ timeout: 2000, tries: 2 });
    r.setServers([server]);
    return (name) => r.resolveMx(name);
  },
};

console.log(
  `server: built-in test server at ${server}, ${QUERIES} MX queries per run, ${ROUNDS} rounds, node ${process.version}\n`,
);
console.log('| concurrency | dnsgate q/s | node Resolver q/s | ratio | lost |');
console.log('|---:|---:|---:|---:|---:|');
for (const c of LEVELS) {
  const qps: Record<string, number[]> = {};
  let lost = 0;
  for (const make of Object.values(clients)) await drive(make(c), c, WARMUP);
  for (let round = 0; round < ROUNDS; round++) {
    // Interleaved, so drift of the machine hits every client alike.
    for (const [name, make] of Object.entries(clients)) {
      const run = await drive(make(c), c, QUERIES);
      qps[name] = [...(qps[name] ?? []), run.qps];
      lost += run.lost;
    }
  }
  const ours = median(qps.dnsgate!);
  const node = median(qps['node Resolver']!);
  console.log(`| ${c} | ${ours.toFixed(0)} | ${node.toFixed(0)} | ${(ours / node).toFixed(2)}× | ${lost} |`);
}
child.kill('SIGTERM');
