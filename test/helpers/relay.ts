// A counting relay in front of a router, in a worker thread of its own (so the count is taken on
// another event loop than the client's): it passes UDP queries to the router and answers back, and
// counts the queries the router has been sent and not answered: at every millisecond from the
// first query on (the count over time, worked out from each query's times when asked), and as each
// query arrives (this one included). A query is known by its client port and question (a socket
// carries several queries at once), and is over for the router once a message answers that
// question or after `staleMs`. A copy sent again, under the same ID or a new one, is not a new
// query, as for the router itself: dnsmasq and unbound hold one slot per question, and answer
// every copy they hold from it (unbound the newest first). A copy that no answer came to (within
// `staleMs`), while one came to a copy sent after it under another ID, was dropped by the router
// (unbound, full): the query counts as held from the arrival of the first copy answered (`p95`),
// or from its first copy (`p95WithDropped`). A query never answered counts as held from its first
// copy for `staleMs`.
import { Worker } from 'node:worker_threads';

/** What the relay saw. */
export interface RelayCounts {
  /** Queries that arrived (retransmissions not counted). */
  queries: number;
  /** Queries held by the router at each ms from the first (copies it dropped not held): 95th percentile. */
  p95: number;
  /** The same, a query held from its first copy, whether the router dropped that or not. */
  p95WithDropped: number;
  /** Unanswered queries as each query arrived (from its first copy): 95th percentile. */
  p95AtArrival: number;
  max: number;
  /** When `max` was first reached (Date.now(): comparable across threads). */
  maxAt: number;
  /** Held at each ms from the first query (what `p95` is taken over). */
  series: number[];
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
// client port and question -> when its first copy arrived, and each copy's ID -> when it arrived
const open = new Map();
// Each query over: when its first copy arrived, when the copy answered arrived, when it was over.
const spans = [];
// Queries over lately (client port and question -> its entry, with where its span is), for answers
// to their other copies; forgotten after staleMs.
const closed = new Map();
// The question's bytes (its name in lower case), or the ID for a message without one.
function keyOf(port, msg) {
  let i = 12;
  if (msg[5] === 1) {
    while (i < msg.length && msg[i] !== 0) i += msg[i] + 1;
    if (i + 5 <= msg.length) return port + ' ' + msg.toString('latin1', 12, i + 5).toLowerCase();
  }
  return port + ' #' + msg.readUInt16BE(0);
}
function p95(values) {
  const sorted = Uint32Array.from(values).sort();
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)];
}
const arrivals = [];
let max = 0;
let maxAt = 0;
/** How many were held at each ms mark from the first arrival, each from spans[i + from]. */
function series(from) {
  const now = performance.now();
  const all = spans.slice();
  for (const { at } of open.values()) all.push(at, at, now);
  if (all.length === 0) return [];
  let first = Infinity;
  let last = 0;
  for (let i = 0; i < all.length; i += 3) { first = Math.min(first, all[i]); last = Math.max(last, all[i + 2]); }
  const n = Math.ceil(last - first) + 1;
  const delta = new Int32Array(n + 1);
  // Held at the mark t if it arrived before t and was over after it.
  for (let i = 0; i < all.length; i += 3) {
    delta[Math.ceil(all[i + from] - first)]++;
    delta[Math.ceil(all[i + 2] - first)]--;
  }
  const counts = new Array(n);
  for (let t = 0, count = 0; t < n; t++) counts[t] = count += delta[t];
  return counts;
}
function upstreamFor(port) {
  let up = upstreams.get(port);
  if (up === undefined) {
    up = dgram.createSocket('udp4');
    up.bind(0, '127.0.0.1');
    up.on('message', (msg) => {
      if (msg.length >= 12) {
        const key = keyOf(port, msg);
        const id = msg.readUInt16BE(0);
        const entry = open.get(key);
        const done = closed.get(key);
        const at = done?.copies.get(id);
        if (at !== undefined && entry?.copies.has(id) !== true) {
          // An answer to an earlier copy after the query was over (unbound answers the copies it
          // holds newest first): that copy was held, not dropped.
          if (at < spans[done.span + 1]) spans[done.span + 1] = at;
        } else if (entry !== undefined) {
          open.delete(key);
          entry.span = spans.length;
          entry.over = performance.now();
          closed.set(key, entry);
          spans.push(entry.at, entry.copies.get(id) ?? entry.at, entry.over);
        }
      }
      front.send(msg, port, '127.0.0.1');
    });
    upstreams.set(port, up);
  }
  return up;
}
front.on('message', (msg, rinfo) => {
  if (msg.length < 12) return;
  const key = keyOf(rinfo.port, msg);
  const id = msg.readUInt16BE(0);
  const entry = open.get(key);
  if (entry === undefined) {
    const at = performance.now();
    open.set(key, { at, copies: new Map([[id, at]]) });
    arrivals.push(open.size);
    if (open.size > max) {
      max = open.size;
      maxAt = Date.now();
    }
  } else if (!entry.copies.has(id)) entry.copies.set(id, performance.now());
  const up = upstreamFor(rinfo.port);
  if (workerData.delayMs > 0) setTimeout(() => up.send(msg, routerPort, host), workerData.delayMs);
  else up.send(msg, routerPort, host);
});
const sweep = setInterval(() => {
  const old = performance.now() - workerData.staleMs;
  for (const [key, { at }] of open)
    if (at < old) {
      open.delete(key);
      spans.push(at, at, at + workerData.staleMs);
    }
  for (const [key, { over }] of closed) if (over < old) closed.delete(key);
}, 50);
front.bind(0, '127.0.0.1', () => parentPort.postMessage({ port: front.address().port }));
parentPort.on('message', (m) => {
  if (m === 'counts') {
    const held = series(1);
    parentPort.postMessage({ queries: arrivals.length, p95: p95(held), p95WithDropped: p95(series(0)), p95AtArrival: p95(arrivals), max, maxAt, series: held });
  } else if (m === 'stop') {
    clearInterval(sweep);
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
