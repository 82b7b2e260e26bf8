// Bytes in, bytes out: this module knows sockets, not DNS.
import { createSocket, type Socket } from 'node:dgram';
import { type Channel, type ChannelListener, descriptors, type Endpoint } from './channel.js';

// With many exchanges in flight, answers arrive in bursts, and each answer's handler sends the
// next query. Those datagrams are then sent together at the end of the event loop's turn, after
// the whole burst was handled: the server's threads wake once per burst rather than once per
// query, and the resolver and the server preempt each other far less on a busy machine. With few
// exchanges in flight there is no burst to gather, and a datagram goes out at once.
const BURST = 24;
/** Channels with an exchange attached now. */
let attached = 0;
let outbox: UdpChannel[] = [];
let spare: UdpChannel[] = [];

function post(ch: UdpChannel): void {
  if (attached < BURST && outbox.length === 0) {
    ch.flush();
    return;
  }
  if (outbox.length === 0) setImmediate(sendAll);
  outbox.push(ch);
}

function sendAll(): void {
  const batch = outbox;
  outbox = spare;
  for (let i = 0; i < batch.length; i++) batch[i]!.flush();
  batch.length = 0;
  spare = batch;
}

// A channel's state bits.
const CONNECTED = 1;
const CLOSED = 2;
/** An error arrived while nobody listened, or an exchange saw forgeries: unfit for reuse. */
const BROKEN = 4;

/**
 * One UDP socket, bound to a port the OS picks and `connect()`ed to one server, so the
 * kernel drops datagrams from any other address or port (RFC 5452 §9.1) and reports ICMP
 * port-unreachable as ECONNREFUSED. It carries one exchange at a time. It never keeps the
 * process alive: whoever waits on it keeps a timer that does.
 */
export class UdpChannel implements Channel {
  readonly endpoint: Endpoint;
  readonly protocol = 'udp' as const;
  /** Exchanges this socket has carried (for rotation). */
  uses = 0;
  /** When it last went idle (for the idle sweep). */
  idleSince = 0;
  /** Scratch space for the outgoing message, owned by whoever holds the socket now. */
  buffer: Buffer | null = null;
  stale = -1;
  #socket: Socket;
  #listener: ChannelListener | null = null;
  /**
   * CONNECTED, CLOSED and BROKEN in one field: written from the first connect on, so V8 treats it
   * as mutable from the start, and a socket's first close or error does not deoptimize the code
   * that reads it.
   */
  #state = 0;
  /** dgram refuses to send on a socket that is still connecting: the datagram waits here. */
  #pending: Uint8Array | null = null;

  constructor(endpoint: Endpoint) {
    this.endpoint = endpoint;
    const socket = createSocket({ type: endpoint.family === 6 ? 'udp6' : 'udp4' });
    this.#socket = socket;
    socket.on('message', (bytes: Buffer) => this.#listener?.message(bytes));
    // Without an 'error' listener a connected socket that gets ICMP unreachable, or a bind
    // that fails with EMFILE, would crash the process.
    socket.on('error', (err: NodeJS.ErrnoException) => this.#fail(err));
    try {
      // An OS-chosen port (RFC 5452 §9.2), on the local address if one was set.
      if (endpoint.local !== undefined) socket.bind({ address: endpoint.local, port: 0, exclusive: true });
      socket.connect(endpoint.port, endpoint.address, (err?: Error) => {
        if (err !== undefined && err !== null) {
          // dgram hands a failed connect (ENETUNREACH, EADDRNOTAVAIL, ...) to this callback, not to
          // 'error': the try fails with that errno, and nothing is sent on the unconnected socket.
          this.#fail(err as NodeJS.ErrnoException);
          return;
        }
        this.#state |= CONNECTED;
        if (this.#pending !== null) post(this);
      });
    } catch (err) {
      // connect() throws synchronously only for bad arguments or a closed socket.
      this.#state |= BROKEN;
      queueMicrotask(() => this.#listener?.error(err as NodeJS.ErrnoException));
    }
    socket.unref();
  }

  /** True when the socket may carry another exchange. */
  get usable(): boolean {
    return (this.#state & (CLOSED | BROKEN)) === 0;
  }

  retire(): void {
    this.#state |= BROKEN;
  }

  /** A socket carries one exchange at a time: nothing else on it to fail with it. */
  get reused(): boolean {
    return false;
  }

  /** One exchange at a time: any ID will do. */
  claim(): boolean {
    return true;
  }

  /** A datagram lost says nothing about the socket. */
  timedOut(): void {}

  forget(query: Uint8Array): void {
    this.stale = (query[0]! << 8) | query[1]!;
    this.buffer = null;
  }

  /** Routes arriving datagrams and errors to `listener` until {@link detach}. */
  attach(listener: ChannelListener): void {
    if (this.#listener === null) attached++;
    this.#listener = listener;
  }

  detach(): void {
    if (this.#listener !== null) attached--;
    this.#listener = null;
  }

  /** Sends one datagram. Errors (EMFILE, ENOBUFS, ...) come to the listener, never as a throw. */
  send(bytes: Uint8Array): void {
    this.#pending = bytes;
    if ((this.#state & CONNECTED) !== 0) post(this);
  }

  /** Sends what {@link send} left, unless the socket was closed meanwhile. */
  flush(): void {
    const bytes = this.#pending;
    this.#pending = null;
    if (bytes === null || (this.#state & CLOSED) !== 0) return;
    try {
      this.#socket.send(bytes);
    } catch (err) {
      this.#state |= BROKEN;
      const listener = this.#listener;
      queueMicrotask(() => listener?.error(err as NodeJS.ErrnoException));
    }
  }

  /** A socket error (or a failed bind or connect): the exchange waiting on it fails with it. */
  #fail(err: NodeJS.ErrnoException): void {
    if (err.code === 'EMFILE' || err.code === 'ENFILE') descriptors.onShortage?.();
    if (this.#listener) this.#listener.error(err);
    else this.#state |= BROKEN;
  }

  close(): void {
    if ((this.#state & CLOSED) !== 0) return;
    this.#state |= CLOSED;
    this.detach();
    try {
      this.#socket.close();
    } catch {
      // Already closed by an error path: nothing left to free.
    }
  }
}
