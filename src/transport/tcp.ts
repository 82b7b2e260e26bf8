// Bytes in, bytes out over TCP (RFC 7766): each message preceded by its length as two bytes (§8),
// one connection kept for several queries and pipelined (§6.2.1, §6.2.1.1), answers taken by ID in
// whatever order they come (§7). This module knows streams and message IDs, not DNS.
import { connect, type Socket } from 'node:net';
import {
  type Channel,
  type ChannelListener,
  descriptors,
  type Endpoint,
  type PooledSocket,
  sameEndpoint,
} from './channel.js';

/**
 * Queries in flight on one connection at most. RFC 7766 §6.2.2 asks a client to keep few
 * connections to a server (one, ideally), so one connection carries many; but one lost segment
 * stalls every query on it (head of line), and a server that closes it sends all of them again:
 * 32 bounds both, and keeps a bulk run at the concurrency people pick (8 to 64) on one or two
 * connections. IDs are drawn from 65,536, so with 32 in flight and up to {@link MAX_STALE}
 * remembered a draw clashes about once in 1,000 (and is drawn again).
 */
export const MAX_IN_FLIGHT = 32;

/** IDs of given-up queries a connection remembers; one that gives up on more is retired. */
const MAX_STALE = 32;

// A connection's state bits.
/** Takes no further exchange; closed by the pool once the last one on it ends. */
const RETIRED = 1;
/** Closed by either side: nothing more is read or written. */
const CLOSED = 2;

function eof(): NodeJS.ErrnoException {
  return Object.assign(new Error('connection closed before an answer'), { code: 'EOF' });
}

/**
 * One TCP connection to a server, carrying up to {@link MAX_IN_FLIGHT} exchanges at once, each
 * through a {@link TcpExchange} the pool hands out. It routes each arriving message by ID to the
 * exchange that sent it, drops a late answer to one given up on (its ID is remembered as stale),
 * and stops taking queries once it saw a message no query in flight could have asked for. It never
 * keeps the process alive: whoever waits on it keeps a timer that does.
 */
export class TcpConnection implements PooledSocket {
  readonly endpoint: Endpoint;
  /** When its last exchange ended (for the idle sweep). */
  idleSince = 0;
  /** Exchanges handed out on it and not yet given back. */
  busy = 0;
  /** Messages read, of any kind (a timed-out exchange asks whether the connection went quiet). */
  heard = 0;
  /** Messages read that matched a query in flight. */
  #answered = 0;
  #socket: Socket;
  #byId = new Map<number, TcpExchange>();
  #stale = new Set<number>();
  #pending: Buffer | null = null;
  #state = 0;
  #ended = false;
  #corked = false;
  readonly #lost: (conn: TcpConnection) => void;
  // Queries written in one turn of the event loop leave in one segment (one writev), not one each.
  readonly #uncork = () => {
    this.#corked = false;
    this.#socket.uncork();
  };

  /** `lost` hears once when the connection closes, whichever side closed it. */
  constructor(endpoint: Endpoint, lost: (conn: TcpConnection) => void) {
    this.endpoint = endpoint;
    this.#lost = lost;
    const socket = connect({
      host: endpoint.address,
      port: endpoint.port,
      family: endpoint.family,
      ...(endpoint.local === undefined ? {} : { localAddress: endpoint.local }),
    });
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.unref();
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => this.#end(err));
    // A server that closes (its idle timeout, its query limit, or a fault) ends every exchange on
    // the connection at once, rather than at their timeouts.
    socket.on('end', () => this.#end(eof()));
    socket.on('close', () => this.#end(eof()));
  }

  /** False once retired or closed: it takes no further exchange. */
  get usable(): boolean {
    return this.#state === 0;
  }

  /** Whether it answered any query: a close after that is the server letting go of it. */
  get reused(): boolean {
    return this.#answered > 0;
  }

  /** Whether it may take one more exchange to `endpoint`. */
  fits(endpoint: Endpoint): boolean {
    return this.#state === 0 && this.busy < MAX_IN_FLIGHT && sameEndpoint(this.endpoint, endpoint);
  }

  /** A new exchange on this connection. */
  open(): TcpExchange {
    this.busy++;
    return new TcpExchange(this);
  }

  retire(): void {
    this.#state |= RETIRED;
  }

  close(): void {
    if ((this.#state & CLOSED) !== 0) return;
    this.#state |= CLOSED | RETIRED;
    this.#socket.destroy();
  }

  /** For its exchanges: takes `id` for `ex` unless a query in flight or a stale one has it. */
  claim(id: number, ex: TcpExchange): boolean {
    if (this.#byId.has(id) || this.#stale.has(id)) return false;
    this.#byId.set(id, ex);
    return true;
  }

  /** For its exchanges: `id` is no longer in flight. */
  drop(id: number, ex: TcpExchange): void {
    if (this.#byId.get(id) === ex) this.#byId.delete(id);
  }

  /** For its exchanges: `id` was given up on; a late answer to it is dropped quietly. */
  forget(id: number, ex: TcpExchange): void {
    this.drop(id, ex);
    this.#stale.add(id);
    if (this.#stale.size >= MAX_STALE) this.#state |= RETIRED;
  }

  /** For its exchanges: writes one message with its 2-byte length. */
  write(bytes: Uint8Array, ex: TcpExchange): void {
    if (bytes.length > 0xffff || this.#socket.destroyed) {
      const err =
        bytes.length > 0xffff
          ? Object.assign(new RangeError('message longer than 65535 bytes'), { code: 'EMSGSIZE' })
          : eof();
      // Told after the send returns, as a socket error would be.
      queueMicrotask(() => ex.listener?.error(err));
      return;
    }
    const frame = Buffer.allocUnsafe(bytes.length + 2);
    frame.writeUInt16BE(bytes.length, 0);
    frame.set(bytes, 2);
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      setImmediate(this.#uncork);
    }
    this.#socket.write(frame);
  }

  #read(chunk: Buffer): void {
    let buf = this.#pending === null ? chunk : Buffer.concat([this.#pending, chunk]);
    while (buf.length >= 2) {
      const end = 2 + buf.readUInt16BE(0);
      if (buf.length < end) break;
      const message = buf.subarray(2, end);
      buf = buf.subarray(end);
      this.#route(message);
      if ((this.#state & CLOSED) !== 0) return;
    }
    this.#pending = buf.length > 0 ? buf : null;
  }

  /** RFC 7766 §7: answers may come in any order; each goes to the query in flight with its ID. */
  #route(message: Buffer): void {
    this.heard++;
    const id = message.length >= 2 ? (message[0]! << 8) | message[1]! : -1;
    const ex = this.#byId.get(id);
    if (ex !== undefined) {
      this.#answered++;
      ex.listener?.message(message);
      return;
    }
    // A late answer to a query given up on (timed out or abandoned) is no forgery.
    if (this.#stale.delete(id)) return;
    // An ID no query here has, or garbage: one waiting exchange judges it, so it is skipped,
    // counted and published as over UDP. A connection that carries such messages takes no more
    // queries (as a UDP socket that saw one is retired).
    this.#state |= RETIRED;
    const first: TcpExchange | undefined = this.#byId.values().next().value;
    first?.listener?.message(message);
  }

  /** Closed or failed: every exchange on it ends with `err`; told once. */
  #end(err: NodeJS.ErrnoException): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#state |= CLOSED | RETIRED;
    this.#socket.destroy();
    if (err.code === 'EMFILE' || err.code === 'ENFILE') descriptors.onShortage?.();
    if (this.#byId.size > 0) for (const ex of [...this.#byId.values()]) ex.listener?.error(err);
    this.#lost(this);
  }
}

/**
 * One exchange on a {@link TcpConnection}: what an attempt holds as its channel. Detaching it ends
 * the exchange and leaves the connection to the others on it and to the pool.
 */
export class TcpExchange implements Channel {
  readonly protocol = 'tcp' as const;
  readonly connection: TcpConnection;
  uses = 0;
  idleSince = 0;
  /** Who hears this exchange's messages and errors; the connection routes to it. */
  listener: ChannelListener | null = null;
  #buffer: Buffer | null = null;
  #id = -1;
  /** The connection's {@link TcpConnection.heard} when the query went out. */
  #heardAtSend = 0;
  #done = false;

  constructor(connection: TcpConnection) {
    this.connection = connection;
  }

  get endpoint(): Endpoint {
    return this.connection.endpoint;
  }

  get usable(): boolean {
    return this.connection.usable;
  }

  get reused(): boolean {
    return this.connection.reused;
  }

  /** The exchange is its own slot: always 0. */
  attach(listener: ChannelListener): number {
    this.listener = listener;
    return 0;
  }

  /** The message is framed into a buffer of its own as it is written: this one is scratch. */
  buffer(_slot: number, size: number): Buffer {
    this.#buffer ??= Buffer.allocUnsafe(size);
    return this.#buffer;
  }

  claim(_slot: number, id: number): boolean {
    if (this.#done || !this.connection.claim(id, this)) return false;
    if (this.#id >= 0) this.connection.drop(this.#id, this);
    this.#id = id;
    return true;
  }

  forget(): void {
    if (this.#id < 0) return;
    this.connection.forget(this.#id, this);
    this.#id = -1;
  }

  timedOut(): void {
    if (this.connection.heard === this.#heardAtSend) this.connection.retire();
  }

  retire(): void {
    this.connection.retire();
  }

  /** Ends the exchange: its ID leaves the connection, and the connection has room for another. */
  detach(): void {
    if (this.#done) return;
    this.#done = true;
    this.listener = null;
    if (this.#id >= 0) this.connection.drop(this.#id, this);
    this.#id = -1;
    this.connection.busy--;
  }

  send(_slot: number, bytes: Uint8Array): void {
    this.#heardAtSend = this.connection.heard;
    this.connection.write(bytes, this);
  }

  /** Ends the exchange; the connection is the pool's to close. */
  close(): void {
    this.detach();
  }
}
