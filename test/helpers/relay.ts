// A counting relay in front of a router, in a worker thread of its own (so the count is taken on
// another event loop than the client's): it passes UDP queries to the router and answers back, and
// counts the queries the router has been sent and not answered: every millisecond from the first
// query on (the count over time), and as each query arrives (this one included). A query is known
// by its client port and question (a socket carries several queries at once), and is over for the
// router once a message answers that question or after `staleMs`. A copy sent again, under the
// same ID or a new one, is not a new query, as for the router itself: dnsmasq and unbound hold one
// slot per question, and answer every copy from it.
import { Worker } from 'node:worker_threads';

/** What the relay saw. */
export interface RelayCounts {
  /** Queries that arrived (retransmissions not counted). */
  queries: number;
  /** Unanswered queries at the router, sampled every ms from the first query: 95th percentile. */
  p95: number;
  /** The same, sampled as each query arrived. */
  p95AtArrival: number;
  max: number;
  /** The count sampled every ms from the first query (what `p95` is taken over). */
  ticks: number[];
}

/** A running relay: `server` is where clients send; `counts()` reads what it saw (and stops the clock). */
export interface Relay {
  server: string;
  counts(): Promise<RelayCounts>;
  stop(): Promise<void>;
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const [host, portText] = [workerData.router.slice(0, workerData.router.lastIndexOf(':')), workerData.router.slice(workerData.router.lastIndexOf(':') + 1)];
const routerPort = Number(portText);
const front = dgram.createSocket('udp4');
const upstreams = new Map();
const open = new Map(); // client port and question -> when it arrived
// The question's bytes (its name in lower case), or the ID for a message without one.
function keyOf(port, msg) {
  let i = 12;
  if (msg[5] === 1) {
    while (i < msg.length && msg[i] !== 0) i += msg[i] + 1;
    if (i + 5 <= msg.length) return port + ' ' + msg.toString('latin1', 12, i + 5).toLowerCase();
  }
  return port + ' #' + msg.readUInt16BE(0);
}
class Samples {
  values = new Uint32Array(1 << 16);
  n = 0;
  note(value) {
    if (this.n === this.values.length) { const more = new Uint32Array(this.n * 2); more.set(this.values); this.values = more; }
    this.values[this.n++] = value;
  }
  p95() {
    const sorted = this.values.slice(0, this.n).sort();
    return this.n === 0 ? 0 : sorted[Math.min(this.n - 1, Math.ceil(this.n * 0.95) - 1)];
  }
}
const arrivals = new Samples();
const ticks = new Samples();
let max = 0;
let ticker;
function upstreamFor(port) {
  let up = upstreams.get(port);
  if (up === undefined) {
    up = dgram.createSocket('udp4');
    up.bind(0, '127.0.0.1');
    up.on('message', (msg) => {
      if (msg.length >= 12) open.delete(keyOf(port, msg));
      front.send(msg, port, '127.0.0.1');
    });
    upstreams.set(port, up);
  }
  return up;
}
front.on('message', (msg, rinfo) => {
  if (msg.length < 12) return;
  const key = keyOf(rinfo.port, msg);
  if (!open.has(key)) {
    open.set(key, Date.now());
    arrivals.note(open.size);
    max = Math.max(max, open.size);
    ticker ??= setInterval(() => ticks.note(open.size), 1);
  }
  const up = upstreamFor(rinfo.port);
  if (workerData.delayMs > 0) setTimeout(() => up.send(msg, routerPort, host), workerData.delayMs);
  else up.send(msg, routerPort, host);
});
const sweep = setInterval(() => {
  const old = Date.now() - workerData.staleMs;
  for (const [key, at] of open) if (at < old) open.delete(key);
}, 50);
front.bind(0, '127.0.0.1', () => parentPort.postMessage({ port: front.address().port }));
parentPort.on('message', (m) => {
  if (m === 'counts') {
    clearInterval(ticker);
    parentPort.postMessage({ queries: arrivals.n, p95: ticks.p95(), p95AtArrival: arrivals.p95(), max, ticks: Array.from(ticks.values.subarray(0, ticks.n)) });
  } else if (m === 'stop') {
    clearInterval(sweep);
    clearInterval(ticker);
    front.close();
    for (const up of upstreams.values()) up.close();
    parentPort.close();
  }
});
`;

/**
 * Starts a relay on a free loopback port in front of `router` (`'127.0.0.1:PORT'`; loopback
 * only). `staleMs`: a query unanswered this long is no longer counted (default 2,000, the first
 * try's timeout). `delayMs`: each query is passed on this much later (a slow router; counted as
 * held meanwhile).
 */
export async function startRelay(router: string, staleMs = 2000, delayMs = 0): Promise<Relay> {
  const { worker, server, stop } = await startWorker(WORKER, { router, staleMs, delayMs });
  return {
    server,
    counts: () =>
      new Promise<RelayCounts>((resolve) => {
        worker.once('message', resolve);
        worker.postMessage('counts');
      }),
    stop,
  };
}

/** Runs `code` in a worker thread until it posts the loopback port it listens on. */
async function startWorker(code: string, workerData: object) {
  const worker = new Worker(code, { eval: true, workerData });
  const { port } = await new Promise<{ port: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    worker,
    server: `127.0.0.1:${port}`,
    stop: async () => {
      worker.postMessage('stop');
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}

const LINE = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const at = workerData.server.lastIndexOf(':');
const host = workerData.server.slice(0, at);
const port = Number(workerData.server.slice(at + 1));
const front = dgram.createSocket('udp4');
const back = dgram.createSocket('udp4');
// One socket towards the server, as a NAT would: each query gets an ID of its own on it, and the
// answer goes back to the port it came from with its own ID.
const pending = new Map(); // our ID -> [client port, client ID, when]
let next = 0;
front.on('message', (msg, rinfo) => {
  if (msg.length < 12) return;
  let id = -1;
  for (let n = 0; n < 65536; n++, next = (next + 1) & 0xffff) {
    if (!pending.has(next)) { id = next; next = (next + 1) & 0xffff; break; }
  }
  if (id < 0) return; // 65,536 in flight: dropped
  pending.set(id, [rinfo.port, msg.readUInt16BE(0), Date.now()]);
  const out = Buffer.from(msg);
  out.writeUInt16BE(id, 0);
  setTimeout(() => back.send(out, port, host), workerData.delayMs + Math.random() * workerData.spreadMs);
});
back.on('message', (msg) => {
  if (msg.length < 12) return;
  const entry = pending.get(msg.readUInt16BE(0));
  if (entry === undefined) return;
  pending.delete(msg.readUInt16BE(0));
  msg.writeUInt16BE(entry[1], 0);
  front.send(msg, entry[0], '127.0.0.1');
});
const sweep = setInterval(() => {
  const old = Date.now() - 10000;
  for (const [id, entry] of pending) if (entry[2] < old) pending.delete(id);
}, 1000);
back.bind(0, '127.0.0.1', () => front.bind(0, '127.0.0.1', () => parentPort.postMessage({ port: front.address().port })));
parentPort.on('message', () => {
  clearInterval(sweep);
  front.close();
  back.close();
  parentPort.close();
});
`;

/**
 * A slow line in front of `server` (`'127.0.0.1:PORT'`; loopback only): each query is passed on
 * `delayMs` later (plus up to `spreadMs` more, uniformly at random), through one socket (queries
 * from any number of client ports, as a router's forwarder sends them), and its answer comes
 * straight back. `server` of the result is where to send.
 */
export async function startLine(
  server: string,
  delayMs: number,
  spreadMs = 0,
): Promise<{ server: string; stop(): Promise<void> }> {
  const { server: front, stop } = await startWorker(LINE, { server, delayMs, spreadMs });
  return { server: front, stop };
}
