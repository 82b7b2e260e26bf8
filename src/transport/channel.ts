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

/** Receives what arrives on a channel while someone listens. */
export interface ChannelListener {
  message(bytes: Buffer): void;
  error(err: NodeJS.ErrnoException): void;
}

/** A connection to one server that carries one exchange at a time (UDP: a connected socket; TCP: a stream). */
export interface Channel {
  readonly endpoint: Endpoint;
  readonly protocol: Protocol;
  /** Exchanges this channel has carried (for rotation). */
  uses: number;
  /** When it last went idle (for the idle sweep). */
  idleSince: number;
  /** Scratch space for the outgoing message, owned by whoever holds the channel now. */
  buffer: Buffer | null;
  /** The ID of the last query this channel gave up on (-1: none): its late answer is no forgery. */
  readonly stale: number;
  /** False once the channel is closed or broken: it may not carry another exchange. */
  readonly usable: boolean;
  /**
   * The exchange of `query` ended without its answer (timed out or given up): remember its ID,
   * and let the next exchange write into a fresh buffer (a send may still read this one).
   */
  forget(query: Uint8Array): void;
  /** Marks the channel unfit for another exchange (it saw forgeries or garbage). */
  retire(): void;
  /** Routes arriving messages and errors to `listener` until {@link detach}. */
  attach(listener: ChannelListener): void;
  detach(): void;
  /** Sends one message. Errors come to the listener, never as a throw. */
  send(bytes: Uint8Array): void;
  close(): void;
}
