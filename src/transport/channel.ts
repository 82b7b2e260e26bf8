// What an attempt needs of a transport. UDP and TCP implement it (udp.ts, tcp.ts); the pool
// (pool.ts) opens the right one, so another transport (DNS over TLS) is one new file and one case
// there. This module knows bytes, not DNS.

/**
 * Which transport a query goes over.
 *
 * @example
 * ```ts
 * const ch = pool.take(endpoint, 'tcp');
 * ```
 */
export type Protocol = 'udp' | 'tcp';

/** Where a channel sends: an IP address, port and family. */
export interface Endpoint {
  address: string;
  port: number;
  family: 4 | 6;
  /** The local address to send from (`setLocalAddress`); the OS picks when absent. */
  local?: string | undefined;
  /** `host:port` (`[v6]:port`), for errors and diagnostics. */
  label: string;
}

/** Whether two endpoints are the same server seen from the same local address. */
export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && a.address === b.address && a.local === b.local;
}

/** Receives what arrives on a channel while someone listens. */
export interface ChannelListener {
  message(bytes: Buffer): void;
  error(err: NodeJS.ErrnoException): void;
  /**
   * Asked right before its datagram goes out, when it waited for the socket to connect or for the
   * end of the turn: false keeps it in (the process was paused meanwhile, say, and what allowed the
   * send no longer does). The exchange then waits for its timeout as for a datagram lost.
   */
  leaving?(): boolean;
}

/** An open socket as the pool keeps it: counted while open, swept when idle too long. */
export interface PooledSocket {
  readonly endpoint: Endpoint;
  /** When it last went idle (for the idle sweep). */
  idleSince: number;
  /** False once it is closed or broken: it may not carry another exchange. */
  readonly usable: boolean;
  close(): void;
}

/**
 * An exchange's way to a server: a UDP socket, which carries up to `queriesPerSocket` exchanges at
 * once, each in a slot of its own (so a query costs no object here), or a view on a TCP connection,
 * one of the exchanges pipelined on it (always slot 0 of its view).
 */
export interface Channel extends PooledSocket {
  readonly protocol: Protocol;
  /** Exchanges this channel has carried (for rotation). */
  uses: number;
  /**
   * TCP: the connection had answered other queries before it failed, so its close is the server
   * letting go of a kept connection (idle timeout, a per-connection query limit), not a failure
   * of this query. Always false for UDP.
   */
  readonly reused: boolean;
  /**
   * Takes a slot for one exchange (the pool made room for it in `take`) and routes the messages
   * that answer it, and errors, to `listener` until the pool gives the slot back. Returns the slot.
   */
  attach(listener: ChannelListener): number;
  /**
   * The slot's scratch space for its outgoing message, `size` bytes, kept while the slot carries
   * exchanges (each in-flight query keeps its bytes for the question check).
   */
  buffer(slot: number, size: number): Buffer;
  /**
   * Takes `id` for the slot's exchange, or says no when another query in flight on the same socket
   * or connection has it, or a late answer to it may still come (RFC 7766 §7 for TCP; for UDP the
   * socket routes answers by ID the same way).
   */
  claim(slot: number, id: number): boolean;
  /**
   * UDP: takes another ID for the slot, for a copy of its query sent again (see Attempt#resend):
   * answers to any of its IDs come to the slot's listener. Says no as {@link claim}, or when the
   * slot has no room for another.
   */
  alias?(slot: number, id: number): boolean;
  /**
   * UDP: `heard` is called with answers to `id` that come once the slot that had it has ended (a
   * late answer to a copy superseded by another), while the socket still remembers it, until it
   * returns true.
   */
  watch?(id: number, heard: (bytes: Uint8Array) => boolean): void;
  /**
   * The slot's exchange ended without its answer (timed out or given up), or may still get a second
   * one (it was sent twice): remember its ID, so that a late answer is dropped quietly, and let the
   * next exchange in the slot write into a fresh buffer (a send may still read this one).
   */
  forget(slot: number): void;
  /**
   * TCP: the exchange timed out. A connection that has read nothing since the query went out is
   * presumed dead (a middlebox dropped its state, the server stopped reading) and is retired.
   */
  timedOut(): void;
  /** Marks the channel unfit for another exchange (it saw forgeries or garbage). */
  retire(): void;
  /** Ends the slot's exchange (the pool calls it when the exchange is given back). */
  detach(slot: number): void;
  /** Sends the slot's message. Errors come to the listener, never as a throw. */
  send(slot: number, bytes: Uint8Array): void;
}

/**
 * Who to tell when the process runs out of file descriptors (EMFILE/ENFILE from a bind or a
 * connect): the socket pools set it, to close their idle sockets so the next try can open one.
 */
export const descriptors: { onShortage: (() => void) | null } = { onShortage: null };
