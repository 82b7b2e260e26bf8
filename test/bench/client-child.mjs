// One measurement of test/bench/resolver.ts, in a fresh plain-node process against the built package:
// `node test/bench/client-child.mjs CLIENT HOST:PORT CONCURRENCY QUERIES WARMUP`. Prints one JSON line.
// Every client is driven the same way: N workers pulling the next name (a lazy gate), MX queries.
import { createSocket } from 'node:dgram';
import { promises as dns } from 'node:dns';
import { createRequire } from 'node:module';
import { Resolver } from '../../dist/index.js';
import { startTestServer } from '../../dist/testing/index.js';

const require = createRequire(import.meta.url);
// `dnsgate-before`: the same client from another checkout's build (DNSGATE_BEFORE=/path/to/checkout),
// to compare a change with the code before it in one interleaved run.
const Before = process.env.DNSGATE_BEFORE
  ? (await import(`${process.env.DNSGATE_BEFORE}/dist/index.js`)).Resolver
  : undefined;
const [client, server, concurrencyArg, queriesArg, warmupArg, namesArg] = process.argv.slice(2);
const CONCURRENCY = Number(concurrencyArg);
const QUERIES = Number(queriesArg);
const WARMUP = Number(warmupArg);
const NAMES = Number(namesArg);
const name = (i) => `d${i % NAMES}.bench.test`;

/** A lookup function for each client, pointed at `host:port`. */
function make(kind, target) {
  const [host, portText] = target.split(/:(?=\d+$)/);
  const port = Number(portText);
  switch (kind) {
    case 'dnsgate':
    case 'dnsgate-before': {
      // No coalescing: every lookup goes on the wire, as with the other clients (the port count below
      // asks 10 names over and over).
      const Client = kind === 'dnsgate' ? Resolver : Before;
      const r = new Client({
        servers: [target],
        concurrency: CONCURRENCY,
        timeout: 1000,
        tries: 3,
        coalesce: false,
        // DNSGATE_K=k: this build's `queriesPerSocket`, for the k sweep (an earlier build has none).
        ...(kind === 'dnsgate' && process.env.DNSGATE_K
          ? { queriesPerSocket: Number(process.env.DNSGATE_K) }
          : {}),
        // DNSGATE_ADAPTIVE=0: the adaptive gate off (a fixed limit of `concurrency`).
        ...(kind === 'dnsgate' && process.env.DNSGATE_ADAPTIVE === '0' ? { adaptive: false } : {}),
        // DNSGATE_REUSE=n: this build's `socketReuse` (queries per port before rotation).
        ...(kind === 'dnsgate' && process.env.DNSGATE_REUSE
          ? { socketReuse: Number(process.env.DNSGATE_REUSE) }
          : {}),
      });
      // Tries the adaptive gate counted as lost (refused, dropped or found overdue): none are, here.
      return { lookup: (n) => r.resolveMx(n), close() {}, losses: () => r.limits?.[0]?.losses };
    }
    case 'node': {
      const r = new dns.Resolver({ timeout: 1000, tries: 3 });
      r.setServers([target]);
      return { lookup: (n) => r.resolveMx(n), close() {} };
    }
    case 'dns-socket': {
      const socket = require('dns-socket')({ timeout: 3000, retries: 3 });
      const lookup = (n) =>
        new Promise((resolve, reject) =>
          socket.query({ questions: [{ type: 'MX', name: n }] }, port, host, (err, res) =>
            err ? reject(err) : resolve(res),
          ),
        );
      return { lookup, close: () => socket.destroy() };
    }
    case 'dns2': {
      const { UDPClient } = require('dns2');
      const resolve = UDPClient({ dns: host, port, timeout: 3000 });
      return { lookup: (n) => resolve(n, 'MX'), close() {} };
    }
    case 'dgram':
      return bareDgram(host, port);
    default:
      throw new Error(`unknown client ${kind}`);
  }
}

/**
 * Not a DNS client: the floor under dnsgate's design. One connect()ed socket per worker, rotated every
 * 100 queries, the query written into a reused buffer, the answer matched by ID and nothing else
 * checked or decoded. What is left between this row and dnsgate's is dnsgate's own work.
 */
function bareDgram(host, port) {
  const idle = [];
  const busy = new Set();
  const out = Buffer.alloc(512);
  const send = (s, name, resolve, reject) => {
    const id = (Math.random() * 0x10000) | 0;
    out.writeUInt16BE(id, 0);
    out.set([1, 0, 0, 1, 0, 0, 0, 0, 0, 0], 2);
    let o = 12;
    for (const label of name.split('.')) {
      out[o++] = label.length;
      o += out.write(label, o, 'latin1');
    }
    out.set([0, 0, 15, 0, 1], o);
    s.pending = { id, resolve, reject, at: performance.now() };
    busy.add(s);
    s.send(out.subarray(0, o + 5));
  };
  const open = (name, resolve, reject) => {
    const s = createSocket('udp4');
    s.uses = 0;
    s.pending = null;
    s.on('message', (msg) => {
      const p = s.pending;
      if (!p || msg.readUInt16BE(0) !== p.id) return;
      s.pending = null;
      busy.delete(s);
      if (++s.uses >= 100) s.close();
      else idle.push(s);
      p.resolve(msg);
    });
    s.connect(port, host, () => send(s, name, resolve, reject));
  };
  // No timer per query: one sweep a second fails what waited over 3 s (counted as lost).
  const sweep = setInterval(() => {
    for (const s of busy) {
      if (performance.now() - s.pending.at < 3000) continue;
      const p = s.pending;
      s.pending = null;
      busy.delete(s);
      s.close();
      p.reject(new Error('timeout'));
    }
  }, 1000);
  return {
    lookup: (name) =>
      new Promise((resolve, reject) => {
        const s = idle.pop();
        if (s === undefined) open(name, resolve, reject);
        else send(s, name, resolve, reject);
      }),
    close() {
      clearInterval(sweep);
      for (const s of idle.splice(0)) s.close();
    },
  };
}

/** Each lookup's latency (ms) in the measured run, in the order they ended. */
let latencies = new Float64Array(0);
let ended = 0;

async function drive(lookup, count, offset, timed = false) {
  let next = 0;
  let lost = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const at = timed ? performance.now() : 0;
      await lookup(name(offset + i)).catch(() => lost++);
      if (timed) latencies[ended++] = performance.now() - at;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return lost;
}

const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * q) - 1)];

const c = make(client, server);
await drive(c.lookup, WARMUP, 0);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
latencies = new Float64Array(QUERIES);
const lost = await drive(c.lookup, QUERIES, WARMUP, true);
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const losses = c.losses?.();
c.close();

// Source ports a NAT table would see: 1,000 more queries against a test server that records them.
const counter = await startTestServer({
  records: Array.from({ length: 10 }, (_, i) => ({
    type: 'MX',
    name: `d${i}.bench.test`,
    ttl: 60,
    data: { preference: 10, exchange: 'mx.bench.test' },
  })),
});
const p = make(client, counter.server);
await drive((n) => p.lookup(n.replace(/^d\d+/, (d) => `d${Number(d.slice(1)) % 10}`)), 1000, 0);
p.close();
const ports = counter.stats.sourcePorts.size;
await counter.close();

console.log(
  JSON.stringify({
    client,
    concurrency: CONCURRENCY,
    qps: QUERIES / seconds,
    lost,
    cpuUs: (cpu.user + cpu.system) / QUERIES,
    p50: percentile(latencies.sort(), 0.5),
    p99: percentile(latencies, 0.99),
    peakRss: process.resourceUsage().maxRSS * 1024,
    ports,
    losses,
  }),
);
process.exit(0);
