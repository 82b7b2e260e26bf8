// A loopback nameserver for tests: UDP and TCP on one port, answering from a zone, with hooks for faults.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import {
  type Answer,
  DEFAULT_UDP_PAYLOAD,
  decodeMessage,
  encodeMessage,
  type Packet,
} from '../wire/codec.js';
import { parseZone, Zone, type ZoneAnswer } from './zone.js';

/**
 * Where a query came from, as given to {@link TestServerOptions.handler}.
 *
 * @example
 * ```ts
 * const handler = (query: Packet, ctx: QueryContext) => (ctx.transport === 'udp' ? null : undefined); // TCP only
 * ```
 */
export interface QueryContext {
  transport: 'udp' | 'tcp';
  rinfo: { address: string; port: number };
}

/**
 * What the hook may return: a reply to send, `null` for silence, `undefined` to let the zone answer.
 *
 * @example
 * ```ts
 * const servfail = (query: Packet): HandlerResult => ({ id: query.id, type: 'response', flags: 2, questions: query.questions });
 * ```
 */
export type HandlerResult = Packet | Buffer | null | undefined | Array<Packet | Buffer | null | undefined>;

function toBytes(r: Packet | Buffer): Buffer {
  return Buffer.isBuffer(r) ? r : encodeMessage(r);
}

/**
 * How {@link startTestServer} builds and runs the server.
 *
 * @example
 * ```ts
 * const options: TestServerOptions = { zone: '$ORIGIN example.test.\n@ SOA ns hm 1 2 3 4 60\n', delayMs: 10 };
 * ```
 */
export interface TestServerOptions {
  /** Master-file text (see {@link parseZone}). */
  zone?: string;
  /** Path of a master file, read as UTF-8 and added to `zone`. */
  zoneFile?: string;
  /** Records given in code, added to the zone. */
  records?: Answer[];
  /** Default `'127.0.0.1'`; `'::1'` works too. */
  address?: string;
  /** Default 0: the OS picks one, and TCP listens on the same number as UDP. */
  port?: number;
  /** Hold every reply this long, so concurrency builds up at the server. */
  delayMs?: number;
  /** Runs first for every decodable query: a reply to send verbatim, `null` for silence, `undefined` for the zone. */
  handler?: (query: Packet, ctx: QueryContext) => HandlerResult | Promise<HandlerResult>;
}

/**
 * Counters kept by the server, live.
 *
 * @example
 * ```ts
 * expect(server.stats.peakInFlight).toBeLessThanOrEqual(4);
 * ```
 */
export interface TestServerStats {
  /** Datagrams and TCP messages received. */
  queries: number;
  udpQueries: number;
  tcpQueries: number;
  /** Received and not yet answered or dropped. */
  inFlight: number;
  /** The most `inFlight` has been since start or {@link TestServer.resetStats}. */
  peakInFlight: number;
  /** Distinct UDP source ports seen. */
  sourcePorts: Set<number>;
}

/**
 * A running server; `server` is the `host:port` string a resolver takes.
 *
 * @example
 * ```ts
 * const server = await startTestServer({ zoneFile: 'fixtures/zones/seed.zone' });
 * resolver.setServers([server.server]);
 * await server.close();
 * ```
 */
export interface TestServer {
  address: string;
  port: number;
  /** `'127.0.0.1:5353'`, or `'[::1]:5353'` for IPv6. */
  server: string;
  stats: TestServerStats;
  /** Zeroes the counters; `inFlight` stays true and `peakInFlight` restarts from it. */
  resetStats(): void;
  /** Closes both sockets, drops replies still held, and resolves when no handle is left. */
  close(): Promise<void>;
}

// Header bits (RFC 1035 §4.1.1); dns-packet keeps the opcode and rcode inside `flags`.
const AA = 1 << 10;
const TC = 1 << 9;
const RD = 1 << 8;
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

type OptRecord = Extract<Answer, { type: 'OPT' }>;
type Transport = QueryContext['transport'];
type Send = (out: Buffer | Buffer[] | null) => void;

function reply(query: Packet, rcode: number, extra: Packet = {}): Packet {
  const flags = query.flags ?? 0;
  return {
    id: query.id,
    type: 'response',
    // Keep the opcode (bits 11-14) and RD. AA only where the zone answered: a REFUSED or NOTIMP
    // comes from no authority (RFC 1035 §4.1.1).
    flags:
      (flags & 0x7800) | (flags & RD) | (rcode === 0 || rcode === 3 ? AA : 0) | rcode | (extra.flags ?? 0),
    questions: query.questions ?? [],
    answers: extra.answers ?? [],
    authorities: extra.authorities ?? [],
    additionals: extra.additionals ?? [],
  };
}

/** Builds the zone's reply to one decoded query: pure, no sockets. */
function answer(zone: Zone, query: Packet, transport: Transport): Buffer {
  const opt = query.additionals?.find((r): r is OptRecord => r.type === 'OPT');
  const additionals: Answer[] = opt
    ? [{ type: 'OPT', name: '.', udpPayloadSize: DEFAULT_UDP_PAYLOAD } as Answer]
    : [];
  const opcode = ((query.flags ?? 0) >> 11) & 0xf;
  const question = query.questions?.[0];
  if (opcode !== 0) return encodeMessage(reply(query, RCODE.NOTIMP, { additionals }));
  // RFC 9619: a query carries exactly one question.
  if (!question || query.questions!.length !== 1)
    return encodeMessage(reply(query, RCODE.FORMERR, { additionals }));
  const cls = question.class ?? 'IN';
  const found: ZoneAnswer =
    cls === 'IN' || cls === 'ANY'
      ? zone.lookup(question.name, question.type)
      : { rcode: 'REFUSED', answers: [], authorities: [] };
  const full = encodeMessage(reply(query, RCODE[found.rcode], { ...found, additionals }));
  // RFC 1035 §4.2.1 and RFC 6891 §6.2.5: over UDP the client's advertised size rules, never below 512.
  const limit = opt ? Math.max(512, opt.udpPayloadSize ?? 0) : 512;
  if (transport === 'tcp' || full.length <= limit) return full;
  // RFC 2181 §9: a truncated reply keeps the question and drops the records that did not fit.
  return encodeMessage(reply(query, RCODE[found.rcode], { flags: TC, additionals }));
}

// The FORMERR for bytes that do not decode: only the ID and opcode can be trusted (RFC 1035 §4.1.1).
function formErr(bytes: Buffer): Buffer {
  const header = Buffer.alloc(12);
  bytes.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8000 | (bytes.readUInt16BE(2) & 0x7800) | RCODE.FORMERR, 2);
  return header;
}

class LoopbackServer implements TestServer {
  address: string;
  port = 0;
  server = '';
  stats: TestServerStats = {
    queries: 0,
    udpQueries: 0,
    tcpQueries: 0,
    inFlight: 0,
    peakInFlight: 0,
    sourcePorts: new Set(),
  };
  #zone: Zone;
  #options: TestServerOptions;
  #udp: dgram.Socket | undefined;
  #tcp: net.Server | undefined;
  #sockets = new Set<net.Socket>();
  #timers = new Set<NodeJS.Timeout>();
  #closing: Promise<void> | undefined;

  constructor(zone: Zone, options: TestServerOptions) {
    this.#zone = zone;
    this.#options = options;
    this.address = options.address ?? '127.0.0.1';
  }

  async listen(): Promise<void> {
    const wanted = this.#options.port ?? 0;
    // With port 0 the OS picks a free UDP port, but the same TCP port may be taken: try again.
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket(net.isIPv6(this.address) ? 'udp6' : 'udp4', (msg, rinfo) =>
        this.#receive('udp', msg, rinfo, (out) => this.#sendUdp(out, rinfo)),
      );
      const tcp = net.createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket));
      try {
        await once(udp.bind(wanted, this.address), 'listening');
        await once(tcp.listen(udp.address().port, this.address), 'listening');
      } catch (err) {
        await new Promise<void>((resolve) => udp.close(() => resolve()));
        if (wanted !== 0 || attempt >= 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        continue;
      }
      udp.on('error', () => {}); // a send to a vanished client must not crash the test run
      this.#udp = udp;
      this.#tcp = tcp;
      this.port = udp.address().port;
      this.server = net.isIPv6(this.address)
        ? `[${this.address}]:${this.port}`
        : `${this.address}:${this.port}`;
      return;
    }
  }

  resetStats(): void {
    const s = this.stats;
    s.queries = s.udpQueries = s.tcpQueries = 0;
    s.peakInFlight = s.inFlight;
    s.sourcePorts.clear();
  }

  // `send` is called exactly once per message, with null when there is nothing (more) to send.
  async #receive(
    transport: Transport,
    bytes: Buffer,
    rinfo: QueryContext['rinfo'],
    send: Send,
  ): Promise<void> {
    const s = this.stats;
    s.queries++;
    if (transport === 'udp') {
      s.udpQueries++;
      s.sourcePorts.add(rinfo.port);
    } else s.tcpQueries++;
    s.peakInFlight = Math.max(s.peakInFlight, ++s.inFlight);
    const out = await this.#respond(transport, bytes, rinfo).catch(() => null);
    const finish = () => {
      s.inFlight--;
      send(this.#closing ? null : out);
    };
    const delay = this.#options.delayMs ?? 0;
    if (delay <= 0 || !out || this.#closing) return finish();
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      finish();
    }, delay);
    this.#timers.add(timer);
  }

  async #respond(
    transport: Transport,
    bytes: Buffer,
    rinfo: QueryContext['rinfo'],
  ): Promise<Buffer | Buffer[] | null> {
    let query: Packet;
    try {
      query = decodeMessage(bytes);
    } catch {
      return bytes.length >= 12 ? formErr(bytes) : null;
    }
    // Never answer a response: two test servers pointed at each other would loop forever.
    if (query.type === 'response') return null;
    const { handler } = this.#options;
    if (handler) {
      try {
        const result = await handler(query, {
          transport,
          rinfo: { address: rinfo.address, port: rinfo.port },
        });
        if (Array.isArray(result)) {
          // Several datagrams, in order: undefined stands for the zone's own answer.
          const parts = result.map((r) =>
            r === undefined ? answer(this.#zone, query, transport) : r === null ? null : toBytes(r),
          );
          return parts.filter((b): b is Buffer => b !== null);
        }
        if (result === null) return null;
        if (result !== undefined) return toBytes(result);
      } catch {
        return encodeMessage(reply(query, RCODE.SERVFAIL));
      }
    }
    try {
      return answer(this.#zone, query, transport);
    } catch {
      // A record given in code that dns-packet cannot encode: tell the client rather than go silent.
      return encodeMessage(reply(query, RCODE.SERVFAIL));
    }
  }

  #sendUdp(out: Buffer | Buffer[] | null, rinfo: dgram.RemoteInfo): void {
    for (const bytes of out === null ? [] : Array.isArray(out) ? out : [out]) {
      this.#udp?.send(bytes, rinfo.port, rinfo.address, () => {});
    }
  }

  // RFC 7766 §8: every message on a TCP stream is preceded by its 2-byte length, and one connection
  // may carry many queries, answered in any order.
  #accept(socket: net.Socket): void {
    this.#sockets.add(socket);
    const rinfo = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    let pending = Buffer.alloc(0);
    let waiting = 0;
    let ended = false;
    const send: Send = (out) => {
      waiting--;
      for (const bytes of out === null ? [] : Array.isArray(out) ? out : [out]) {
        if (socket.destroyed || bytes.length > 0xffff) continue;
        const length = Buffer.alloc(2);
        length.writeUInt16BE(bytes.length);
        socket.write(Buffer.concat([length, bytes]));
      }
      if (ended && waiting === 0) socket.end();
    };
    socket.on('data', (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const message = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + message.length);
        waiting++;
        void this.#receive('tcp', message, rinfo, send);
      }
    });
    // A client that half-closes after its queries still gets every answer, then the close.
    socket.on('end', () => {
      ended = true;
      if (waiting === 0) socket.end();
    });
    socket.on('error', () => {});
    socket.on('close', () => this.#sockets.delete(socket));
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const timer of this.#timers) clearTimeout(timer);
      this.stats.inFlight -= this.#timers.size;
      this.#timers.clear();
      for (const socket of this.#sockets) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => this.#udp!.close(() => resolve())),
        new Promise((resolve) => this.#tcp!.close(resolve)),
      ]);
      // 'close' is emitted before libuv frees the handle (in the loop's close phase): wait two turns so
      // process.getActiveResourcesInfo() no longer lists it when this promise settles.
      for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
    })();
    return this.#closing;
  }
}

/**
 * Starts a loopback nameserver on UDP and TCP (same port), authoritative for every SOA in its zone.
 * Answers follow RFC 1034 §4.3.2: CNAME chains, NODATA and NXDOMAIN with the SOA, REFUSED outside
 * its zones, TC over UDP past 512 bytes (or the client's EDNS size), FORMERR and NOTIMP.
 *
 * @example
 * ```ts
 * import { startTestServer } from 'dnsgate/testing';
 * const server = await startTestServer({ zone: '$ORIGIN example.test.\n@ SOA ns hm 1 2 3 4 60\n@ MX 10 mx\n' });
 * const resolver = new dns.promises.Resolver();
 * resolver.setServers([server.server]);
 * await resolver.resolveMx('example.test'); // [{ exchange: 'mx.example.test', priority: 10 }]
 * await server.close();
 * ```
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const records = options.zone ? parseZone(options.zone) : [];
  if (options.zoneFile) records.push(...parseZone(await readFile(options.zoneFile, 'utf8')));
  records.push(...(options.records ?? []));
  const server = new LoopbackServer(new Zone(records), options);
  await server.listen();
  return server;
}
