// A loopback nameserver for tests: UDP and TCP on one port, answering from a zone, with hooks for faults.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import type { Answer, Packet } from '../wire/types.js';
import { type Action, type From, type QueryContext, runScript, type Script } from './faults.js';
import { decodePacket, encodePacket } from './packet.js';
import { formErr, rcodeReply, zoneAnswer } from './reply.js';
import { parseZone, Zone } from './zone.js';

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
  return Buffer.isBuffer(r) ? r : encodePacket(r);
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
  /**
   * TCP: answers at most this many queries on one connection, then closes it once they are
   * answered; queries past the limit on it get no answer (dnsmasq closes after 100).
   */
  tcpMaxQueries?: number;
  /**
   * TCP: closes a connection that has no query to answer for this long (RFC 7766 §6.2.3: a
   * server's idle timeout). None by default.
   */
  tcpIdleMs?: number;
  /** Runs first for every decodable query: a reply to send verbatim, `null` for silence, `undefined` for the zone. */
  handler?: (query: Packet, ctx: QueryContext) => HandlerResult | Promise<HandlerResult>;
  /**
   * What to do with each query the handler leaves to the zone (see `faults.ts`): one step per
   * query, the last repeating. Steps count only the queries that reach them, so a handler that
   * answers a query does not use up a step. Undecodable queries get their FORMERR unscripted.
   */
  script?: Script;
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
  /** TCP connections accepted. */
  tcpConnections: number;
  /** TCP connections open now. */
  openConnections: number;
  /** The most `openConnections` has been since start or {@link TestServer.resetStats}. */
  peakConnections: number;
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
  /** What went wrong inside the server: a step or handler that threw, a socket that would not open. */
  errors: Error[];
  /**
   * Zeroes the counters; `inFlight` and `openConnections` stay true, and `peakInFlight` and
   * `peakConnections` restart from them.
   */
  resetStats(): void;
  /** Closes both sockets, drops replies still held, and resolves when no handle is left. */
  close(): Promise<void>;
}

type Transport = QueryContext['transport'];

/** Where a reply goes: each datagram in turn, then `end` once when the query is done with. */
interface Outlet {
  send(bytes: Buffer, from: From): void;
  end(): void;
  hangUp?: () => void;
  /** TCP: the connection's number, in the order accepted (0-based). */
  connection?: number;
}

const now = (bytes: Buffer): Action => ({ bytes });

// 'close' is emitted before libuv frees the handle (in the loop's close phase): wait two turns so
// process.getActiveResourcesInfo() no longer lists a socket we closed.
async function freed(): Promise<void> {
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
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
    tcpConnections: 0,
    openConnections: 0,
    peakConnections: 0,
  };
  errors: Error[] = [];
  #zone: Zone;
  #options: TestServerOptions;
  #script: ReturnType<typeof runScript> | undefined;
  #udp: dgram.Socket | undefined;
  #tcp: net.Server | undefined;
  /** The extra UDP sockets of `from: 'otherPort' | 'otherAddress'`, opened on first use. */
  #others = new Map<From, Promise<dgram.Socket | undefined>>();
  #sockets = new Set<net.Socket>();
  /** One timer per query that still has something to send. */
  #timers = new Set<NodeJS.Timeout>();
  /** The idle timeout of each TCP connection that has one (`tcpIdleMs`). */
  #idleTimers = new Set<NodeJS.Timeout>();
  #closing: Promise<void> | undefined;
  /** TCP connections accepted since start (numbers them; {@link resetStats} leaves it). */
  #accepted = 0;

  constructor(zone: Zone, options: TestServerOptions) {
    this.#zone = zone;
    this.#options = options;
    this.#script = options.script === undefined ? undefined : runScript(options.script);
    this.address = options.address ?? '127.0.0.1';
  }

  async listen(): Promise<void> {
    const wanted = this.#options.port ?? 0;
    // With port 0 the OS picks a free UDP port, but the same TCP port may be taken: try again.
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket(net.isIPv6(this.address) ? 'udp6' : 'udp4', (msg, rinfo) =>
        this.#receive('udp', msg, rinfo, {
          send: (bytes, from) => this.#sendUdp(bytes, from, rinfo),
          end: () => {},
        }),
      );
      const tcp = net.createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket));
      try {
        await once(udp.bind(wanted, this.address), 'listening');
        await once(tcp.listen(udp.address().port, this.address), 'listening');
      } catch (err) {
        await new Promise<void>((resolve) => udp.close(() => resolve()));
        await freed();
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
    s.tcpConnections = 0;
    s.peakConnections = s.openConnections;
  }

  async #receive(
    transport: Transport,
    bytes: Buffer,
    rinfo: QueryContext['rinfo'],
    out: Outlet,
  ): Promise<void> {
    const s = this.stats;
    s.queries++;
    if (transport === 'udp') {
      s.udpQueries++;
      s.sourcePorts.add(rinfo.port);
    } else s.tcpQueries++;
    s.peakInFlight = Math.max(s.peakInFlight, ++s.inFlight);
    const actions = await this.#respond(transport, bytes, { address: rinfo.address, port: rinfo.port }, out);
    // Open the off-path sockets before the clock starts, so "bad first, good 10 ms later" holds.
    if (transport === 'udp') {
      const senders = new Set(actions.map((a) => a.from ?? 'server'));
      senders.delete('server');
      await Promise.all([...senders].map((from) => this.#other(from as Exclude<From, 'server'>)));
    }
    this.#schedule(actions, out);
  }

  // Sends each action at its time, earliest first (a stable sort keeps same-time ones in order),
  // holding one timer at a time so close() can count and cancel what is still held.
  #schedule(actions: Action[], out: Outlet): void {
    const held = this.#options.delayMs ?? 0;
    const queue = actions
      .map((a) => ({ ...a, at: Math.max(0, (a.afterMs ?? 0) + held) }))
      .sort((a, b) => a.at - b.at);
    let clock = 0;
    const run = () => {
      while (queue.length > 0 && queue[0]!.at <= clock && !this.#closing) {
        const next = queue.shift()!;
        out.send(next.bytes, next.from ?? 'server');
      }
      if (queue.length === 0 || this.#closing) {
        this.stats.inFlight--;
        return out.end();
      }
      const wait = queue[0]!.at - clock;
      clock = queue[0]!.at;
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        run();
      }, wait);
      this.#timers.add(timer);
    };
    run();
  }

  async #respond(
    transport: Transport,
    bytes: Buffer,
    rinfo: QueryContext['rinfo'],
    out: Outlet,
  ): Promise<Action[]> {
    // dns-packet reads the query, not the client's codec: a bug shared by both would hide itself.
    let query: Packet;
    try {
      query = decodePacket(bytes);
    } catch {
      return bytes.length >= 12 ? [now(formErr(bytes))] : [];
    }
    // Never answer a response: two test servers pointed at each other would loop forever.
    if (query.type === 'response') return [];
    const ctx: QueryContext = {
      transport,
      rinfo,
      ...(out.hangUp === undefined ? {} : { hangUp: out.hangUp }),
      ...(out.connection === undefined ? {} : { connection: out.connection }),
    };
    const { handler } = this.#options;
    try {
      const result = handler ? await handler(query, ctx) : undefined;
      // Several datagrams, in order: undefined stands for the zone's own answer.
      if (Array.isArray(result)) {
        return result
          .filter((r) => r !== null)
          .map((r) => now(r === undefined ? zoneAnswer(this.#zone, query, transport) : toBytes(r)));
      }
      if (result === null) return [];
      if (result !== undefined) return [now(toBytes(result))];
      const answer = zoneAnswer(this.#zone, query, transport);
      return this.#script ? this.#script(query, answer, ctx) : [now(answer)];
    } catch (err) {
      // A handler or step that throws, or a record given in code that dns-packet cannot encode:
      // tell the client rather than go silent, and keep the error for the test to see.
      this.errors.push(err instanceof Error ? err : new Error(String(err)));
      return [now(rcodeReply(query, 'SERVFAIL'))];
    }
  }

  #sendUdp(bytes: Buffer, from: From, rinfo: dgram.RemoteInfo): void {
    if (from === 'server') {
      this.#udp?.send(bytes, rinfo.port, rinfo.address, () => {});
      return;
    }
    void this.#other(from).then((socket) => {
      // close() may have shut the socket while it was opening: dgram throws on a closed socket.
      if (!this.#closing) socket?.send(bytes, rinfo.port, rinfo.address, () => {});
    });
  }

  // A second socket on this address (any port), or on 127.0.0.2 with this port number when it is
  // free: the two off-path senders RFC 5452 §9.1 says a client must not believe.
  #other(from: Exclude<From, 'server'>): Promise<dgram.Socket | undefined> {
    let opened = this.#others.get(from);
    if (!opened) {
      opened = (async () => {
        const v6 = net.isIPv6(this.address);
        if (from === 'otherAddress' && v6) throw new Error('no other loopback address for IPv6 (only ::1)');
        const address = from === 'otherPort' ? this.address : '127.0.0.2';
        const ports = from === 'otherPort' ? [0] : [this.port, 0];
        for (const port of ports) {
          const socket = dgram.createSocket(v6 ? 'udp6' : 'udp4');
          socket.on('error', () => {});
          try {
            await once(socket.bind(port, address), 'listening');
            return socket;
          } catch (err) {
            socket.close();
            if (port === 0) throw err;
          }
        }
      })().catch((err: Error) => {
        this.errors.push(new Error(`cannot send from ${from}: ${err.message}`));
        return undefined;
      });
      this.#others.set(from, opened);
    }
    return opened;
  }

  // RFC 7766 §8: every message on a TCP stream is preceded by its 2-byte length, and one connection
  // may carry many queries, answered in any order (§7).
  #accept(socket: net.Socket): void {
    this.#sockets.add(socket);
    const s = this.stats;
    s.tcpConnections++;
    s.peakConnections = Math.max(s.peakConnections, ++s.openConnections);
    const { tcpMaxQueries: maxQueries = Number.POSITIVE_INFINITY, tcpIdleMs } = this.#options;
    const rinfo = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    let pending = Buffer.alloc(0);
    let received = 0;
    let answered = 0;
    let waiting = 0;
    let ended = false;
    // RFC 7766 §6.2.3: a server closes a connection left idle past its timeout.
    let idle: NodeJS.Timeout | undefined;
    const rest = () => {
      if (tcpIdleMs === undefined || waiting > 0 || socket.destroyed) return;
      idle = setTimeout(() => {
        this.#idleTimers.delete(idle!);
        socket.end();
      }, tcpIdleMs);
      this.#idleTimers.add(idle);
    };
    const busy = () => {
      if (idle === undefined) return;
      clearTimeout(idle);
      this.#idleTimers.delete(idle);
      idle = undefined;
    };
    const out: Outlet = {
      // One stream, one sender: `from` has no meaning here.
      send(bytes) {
        if (socket.destroyed || bytes.length > 0xffff) return;
        const length = Buffer.alloc(2);
        length.writeUInt16BE(bytes.length);
        socket.write(Buffer.concat([length, bytes]));
      },
      end() {
        waiting--;
        if (++answered >= maxQueries || (ended && waiting === 0)) socket.end();
        else rest();
      },
      hangUp() {
        socket.destroy();
      },
      connection: this.#accepted++,
    };
    rest();
    socket.on('data', (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const message = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + message.length);
        // Past its limit a server reads no more queries on the connection: no answer comes.
        if (++received > maxQueries) continue;
        busy();
        waiting++;
        void this.#receive('tcp', message, rinfo, out);
      }
    });
    // A client that half-closes after its queries still gets every answer, then the close.
    socket.on('end', () => {
      ended = true;
      if (waiting === 0) socket.end();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      busy();
      this.#sockets.delete(socket);
      s.openConnections--;
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const timer of this.#timers) clearTimeout(timer);
      this.stats.inFlight -= this.#timers.size;
      this.#timers.clear();
      for (const timer of this.#idleTimers) clearTimeout(timer);
      this.#idleTimers.clear();
      for (const socket of this.#sockets) socket.destroy();
      const others = (await Promise.all(this.#others.values())).filter((s) => s !== undefined);
      await Promise.all([
        ...[this.#udp!, ...others].map((u) => new Promise<void>((resolve) => u.close(() => resolve()))),
        new Promise((resolve) => this.#tcp!.close(resolve)),
      ]);
      await freed();
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
