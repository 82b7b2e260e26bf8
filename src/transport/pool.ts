// The sockets of one gate, and the one place a transport is chosen.
import type { Clock, ClockTimer } from '../runtime.js';
import type { Channel, Endpoint, Protocol } from './channel.js';
import { TcpChannel } from './tcp.js';
import { descriptors, UdpChannel } from './udp.js';

/** How long a socket may sit idle before it is closed. */
const IDLE_MS = 2000;

/** What the pool needs of the gate: its current limit. */
export interface Limited {
  readonly limit: number;
}

/**
 * The sockets of one gate. Each permit of the gate owns at most one socket, so the pool
 * never holds more open sockets (busy + idle) than the gate's limit: a permit holder that
 * needs a socket for another server closes an idle one first. Sockets are reused by the
 * next permit holder and retired after `reuse` exchanges or any anomaly, which keeps the
 * number of source ports a home router's NAT table sees small.
 */
export class SocketPool {
  #gate: Limited;
  /** Idle sockets, oldest first. */
  #idle: Channel[] = [];
  #open = 0;
  #clock: Clock;
  #sweeper: ClockTimer | undefined;
  readonly #sweep = () => this.#swept();

  constructor(gate: Limited, clock: Clock) {
    this.#gate = gate;
    this.#clock = clock;
  }

  /** Sockets open now, busy or idle. */
  get open(): number {
    return this.#open;
  }

  /**
   * A channel to `endpoint` over `protocol`, reused when an idle one fits. Call only while holding
   * a permit: a TCP connection counts as a socket in flight like a UDP socket.
   */
  take(endpoint: Endpoint, protocol: Protocol): Channel {
    if (protocol === 'tcp') {
      this.reserve();
      return new TcpChannel(endpoint);
    }
    const idle = this.#idle;
    for (let i = idle.length - 1; i >= 0; i--) {
      const ch = idle[i]!;
      const e = ch.endpoint;
      if (e.port === endpoint.port && e.address === endpoint.address && e.local === endpoint.local) {
        idle.splice(i, 1);
        if (ch.usable) return ch;
        this.#close(ch);
        break;
      }
    }
    this.reserve();
    return new UdpChannel(endpoint);
  }

  /**
   * Counts one more open socket (a new UDP socket, or a TCP connection under a permit),
   * closing the oldest idle one first when the pool is full.
   */
  reserve(): void {
    if (this.#open >= this.#gate.limit) {
      const oldest = this.#idle.shift();
      if (oldest) this.#close(oldest);
    }
    this.#open++;
  }

  /** Gives back what {@link reserve} counted. */
  unreserve(): void {
    this.#open--;
  }

  /**
   * Returns a channel after an exchange: kept for the next permit holder, or closed (after a
   * socket error, an anomaly, `reuse` exchanges, or when the gate shrank).
   */
  give(ch: Channel, reuse: number, clean: boolean): void {
    ch.detach();
    if (!clean || !ch.usable || ch.uses >= reuse || this.#open > this.#gate.limit) {
      this.#close(ch);
      return;
    }
    ch.idleSince = this.#clock.now();
    this.#idle.push(ch);
    withIdle.add(this);
    if (this.#sweeper === undefined) this.#arm();
  }

  #arm(): void {
    const t = this.#clock.setTimeout(this.#sweep, IDLE_MS);
    t.unref?.();
    this.#sweeper = t;
  }

  /** Closes every idle socket now. */
  closeIdle(): void {
    for (const ch of this.#idle.splice(0)) this.#close(ch);
    this.#stopSweeper();
  }

  #close(ch: Channel): void {
    ch.close();
    this.#open--;
  }

  #swept(): void {
    this.#sweeper = undefined;
    const cutoff = this.#clock.now() - IDLE_MS;
    let n = 0;
    while (n < this.#idle.length && this.#idle[n]!.idleSince <= cutoff) n++;
    for (const ch of this.#idle.splice(0, n)) this.#close(ch);
    if (this.#idle.length === 0) this.#stopSweeper();
    else this.#arm();
  }

  #stopSweeper(): void {
    if (this.#sweeper !== undefined) this.#clock.clearTimeout(this.#sweeper);
    this.#sweeper = undefined;
    withIdle.delete(this);
  }
}

const pools = new WeakMap<Limited, SocketPool>();

// The pools that hold idle sockets right now (a pool leaves the set when its last idle socket
// closes, so the set never keeps a pool alive for long).
const withIdle = new Set<SocketPool>();

// Out of file descriptors: idle sockets of every gate are the ones nobody is using, so close
// them, and the next try (of this query or another) can open a socket again.
descriptors.onShortage = () => {
  for (const pool of [...withIdle]) pool.closeIdle();
};

/**
 * The pool that belongs to a gate, shared by every resolver that shares the gate (its idle sweep
 * runs on the clock of the first).
 */
export function poolFor(gate: Limited, clock: Clock): SocketPool {
  let pool = pools.get(gate);
  if (!pool) {
    pool = new SocketPool(gate, clock);
    pools.set(gate, pool);
  }
  return pool;
}
