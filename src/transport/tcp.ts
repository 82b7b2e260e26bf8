// Bytes in, bytes out over TCP, with RFC 7766 §8 framing: every message is preceded by its
// length as two bytes. One connection per exchange; this module knows streams, not DNS.
import { connect, type Socket } from 'node:net';
import type { Channel, ChannelListener, Endpoint } from './channel.js';

/** A TCP connection that carries length-prefixed messages to one server. */
export class TcpChannel implements Channel {
  readonly endpoint: Endpoint;
  readonly protocol = 'tcp' as const;
  uses = 0;
  idleSince = 0;
  buffer: Buffer | null = null;
  #socket: Socket;
  #listener: ChannelListener | null = null;
  #pending: Buffer | null = null;
  #closed = false;

  constructor(endpoint: Endpoint) {
    this.endpoint = endpoint;
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
    socket.on('error', (err: NodeJS.ErrnoException) => this.#fail(err));
    // A server that closes before answering ends the exchange at once, rather than at its timeout.
    socket.on('close', () =>
      this.#fail(Object.assign(new Error('connection closed before an answer'), { code: 'EOF' })),
    );
  }

  /** A TCP connection carries one exchange and is closed after it. */
  get usable(): boolean {
    return false;
  }

  retire(): void {}

  readonly stale = -1;
  forget(): void {}

  attach(listener: ChannelListener): void {
    this.#listener = listener;
  }

  detach(): void {
    this.#listener = null;
  }

  /** Writes one message with its 2-byte length; net.Socket holds it until the connection is up. */
  send(bytes: Uint8Array): void {
    if (bytes.length > 0xffff) {
      this.#fail(Object.assign(new RangeError('message longer than 65535 bytes'), { code: 'EMSGSIZE' }));
      return;
    }
    const frame = Buffer.allocUnsafe(bytes.length + 2);
    frame.writeUInt16BE(bytes.length, 0);
    frame.set(bytes, 2);
    this.#socket.write(frame);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener = null;
    this.#socket.destroy();
  }

  #read(chunk: Buffer): void {
    let buf = this.#pending === null ? chunk : Buffer.concat([this.#pending, chunk]);
    while (buf.length >= 2) {
      const end = 2 + buf.readUInt16BE(0);
      if (buf.length < end) break;
      const message = buf.subarray(2, end);
      buf = buf.subarray(end);
      this.#listener?.message(message);
      if (this.#closed) return;
    }
    this.#pending = buf.length > 0 ? buf : null;
  }

  #fail(err: NodeJS.ErrnoException): void {
    const listener = this.#listener;
    this.#listener = null;
    listener?.error(err);
  }
}
