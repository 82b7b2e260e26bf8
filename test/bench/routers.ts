// Question: how long do 10,000 distinct MX lookups take through a home router, with the adaptive
// gate at ceilings 16, 200 and 1,000, against fixed concurrency settings found by hand? Two real
// routers in front of knotd: dnsmasq (dns-forward-max 20, refuses when full) and unbound
// (num-queries-per-thread 16, drops when full). Each run gets a fresh router (unbound would answer
// a second run from its cache); runs are interleaved, `--reps` rounds (default 3). Prints, per
// router and setting, the wall time (median and range), lookups lost, and refused or dropped sends.
// `--upstream-ms N` puts N ms between the router and knotd (a delaying relay): a home router on a
// real line, whose slots are held by the upstream's latency rather than by its own speed.
// `--cached N` turns the routers' caches on and asks the lookups over N distinct names, each as
// often, in a shuffled order: most are answered from the cache at once, the misses take the
// upstream's time (a home router with its cache, forwarding misses over a slow line).
// `--upstream-spread N` adds up to N ms more to each query on that line, uniformly at random (the
// upstream a miss goes to answers in anything from tens to hundreds of ms).
// `--dead-every N` makes every N-th name one under dead.test, which the router forwards to a server
// that never answers (a dead domain's nameservers): the table then says when the last answerable
// lookup ended, and counts only answerable lookups as lost.
// Run: npm run bench:routers [-- --reps 3 --lookups 10000 --upstream-ms 0 --cached 0 --dead-every 0 --settings 'fixed 16,adaptive 200']
import { createSocket } from 'node:dgram';
import { subscribe } from 'node:diagnostics_channel';
import { Resolver } from '../../src/index.js';
import { BULK_ORIGIN, bulkName, bulkZone, shuffledAsks } from '../helpers/bulk-zone.js';
import { startDnsmasq } from '../helpers/dnsmasq.js';
import { startKnot } from '../helpers/knot.js';
import { startLine } from '../helpers/relay.js';
import { startUnbound } from '../helpers/unbound.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const REPS = arg('reps', 3);
const LOOKUPS = arg('lookups', 10_000);
const UPSTREAM_MS = arg('upstream-ms', 0);
const CACHED = arg('cached', 0);
const UPSTREAM_SPREAD = arg('upstream-spread', 0);
const DEAD_EVERY = arg('dead-every', 0);

/** Where dead.test is forwarded: a socket that reads and never answers. */
const silent = createSocket('udp4');
await new Promise<void>((done) => silent.bind(0, '127.0.0.1', done));
const DEAD_PORT = silent.address().port;

const ROUTERS = {
  dnsmasq: (upstream: string) =>
    startDnsmasq({
      upstream,
      forwardMax: 20,
      ...(CACHED > 0 ? { cacheSize: 10_000 } : {}),
      extra: [`--server=/dead.test/127.0.0.1#${DEAD_PORT}`],
    }),
  unbound: (upstream: string) =>
    startUnbound({
      upstream,
      numQueriesPerThread: 16,
      cache: CACHED > 0,
      extra: ['forward-zone:', 'name: "dead.test."', `forward-addr: 127.0.0.1@${DEAD_PORT}`],
    }),
};

/** The names asked, in order: each of LOOKUPS distinct, or CACHED names asked in turn, shuffled. */
const NAMES = (
  CACHED > 0
    ? shuffledAsks(LOOKUPS, CACHED).map(bulkName)
    : Array.from({ length: LOOKUPS }, (_, i) => bulkName(i))
).map((name, i) => (DEAD_EVERY > 0 && i % DEAD_EVERY === 0 ? `d${i}.dead.test` : name));
const dead = (name: string) => name.endsWith('.dead.test');
/**
 * `fixed N`: adaptive off, concurrency N; `adaptive N`: the adaptive gate under a ceiling of N.
 * `--settings 'fixed 20,adaptive 1000'` runs only those.
 */
const settingsArg = process.argv.indexOf('--settings');
const SETTINGS =
  settingsArg > 0
    ? process.argv[settingsArg + 1]!.split(',')
    : [
        'fixed 8',
        'fixed 12',
        'fixed 16',
        'fixed 20',
        'fixed 24',
        'fixed 32',
        'adaptive 16',
        'adaptive 200',
        'adaptive 1000',
      ];

let answered = 0;
subscribe('dnsgate:query:outcome', (m) => {
  const { outcome, rcode } = m as { outcome: string; rcode?: string };
  if (outcome === 'answer' && rcode !== 'REFUSED') answered++;
});

interface Run {
  ms: number;
  /** When the last answerable lookup ended. */
  answerableMs: number;
  /** Answerable lookups that failed. */
  lost: number;
  lossy: number;
  sent: number;
}

async function run(router: keyof typeof ROUTERS, setting: string, upstream: string): Promise<Run> {
  const [mode, n] = setting.split(' ') as [string, string];
  const server = await ROUTERS[router](upstream);
  const resolver = new Resolver({
    servers: [server.server],
    concurrency: Number(n),
    coalesce: false,
    adaptive: mode === 'adaptive',
  });
  answered = 0;
  const started = performance.now();
  let answerableMs = 0;
  const results = await Promise.allSettled(
    NAMES.map((name) => {
      const call = resolver.resolveMx(name);
      if (!dead(name)) call.finally(() => (answerableMs = performance.now() - started)).catch(() => {});
      return call;
    }),
  );
  const ms = performance.now() - started;
  await server.stop();
  const sent = resolver.stats.sent;
  const lost = results.filter((r, i) => r.status === 'rejected' && !dead(NAMES[i]!)).length;
  return { ms, answerableMs, lost, lossy: sent - answered, sent };
}

const knot = await startKnot({ zones: { [`${BULK_ORIGIN}.`]: bulkZone(LOOKUPS) } });
const line = UPSTREAM_MS > 0 ? await startLine(knot.server, UPSTREAM_MS, UPSTREAM_SPREAD) : undefined;
const upstream = line?.server ?? knot.server;
const runs = new Map<string, Run[]>();
for (let rep = 0; rep < REPS; rep++) {
  for (const router of Object.keys(ROUTERS) as Array<keyof typeof ROUTERS>) {
    for (const setting of SETTINGS) {
      const r = await run(router, setting, upstream);
      const key = `${router}\t${setting}`;
      runs.set(key, [...(runs.get(key) ?? []), r]);
      process.stderr.write(`rep ${rep + 1} ${router} ${setting}: ${r.ms.toFixed(0)} ms, ${r.lost} lost\n`);
    }
  }
}
await line?.stop();
await knot.stop();
silent.close();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const lastAnswerable = DEAD_EVERY > 0 ? ' last answerable ms, median (range) |' : '';
console.log(
  `| router | setting | wall ms, median (range) |${lastAnswerable} lost | refused or dropped sends |`,
);
console.log(`|---|---|---|${DEAD_EVERY > 0 ? '---|' : ''}---:|---:|`);
for (const [key, rs] of runs) {
  const [router, setting] = key.split('\t');
  const ms = rs.map((r) => r.ms);
  const last = rs.map((r) => r.answerableMs);
  const lastCell =
    DEAD_EVERY > 0
      ? ` ${median(last).toFixed(0)} (${Math.min(...last).toFixed(0)}–${Math.max(...last).toFixed(0)}) |`
      : '';
  const lost = rs.reduce((a, r) => a + r.lost, 0);
  const lossy = rs.reduce((a, r) => a + r.lossy, 0);
  const sent = rs.reduce((a, r) => a + r.sent, 0);
  console.log(
    `| ${router} | ${setting} | ${median(ms).toFixed(0)} (${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)}) |${lastCell} ${lost} | ${((lossy / sent) * 100).toFixed(2)}% |`,
  );
}
