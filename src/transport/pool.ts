// The sockets of one gate, and the one place a transport is chosen.
import type { Clock, ClockTimer } from '../runtime.js';
import {
  type Channel,
  descriptors,
  type Endpoint,
  type PooledSocket,
  type Protocol,
  sameEndpoint,
} from './channel.js';
import { TcpConnection, type TcpExchange } from './tcp.js';
import { UdpSocket } from './udp.js';

/**
 * How long a socket may sit idle before it is closed. For TCP, RFC 7766 §6.2.3 has clients close
 * idle connections; 2 s keeps a connection across the gaps of a bulk run or a burst of lookups,
 * and is well under the idle timeouts of common servers (Knot 10 s, BIND and Unbound 30 s), so it
 * is nearly always we who close, not a server closing under a query just sent.
 */
const IDLE_MS = 2000;

/**
 * A UDP socket takes no new query once it is this old, however few it carried: `socketReuse`
 * bounds how many queries a port sees, this bounds for how long, so that a steady stream (which
 * never leaves a socket idle for {@link IDLE_MS}) still moves to fresh ports. Up to 10 queries a
 * second a port carries no more than the 100 it did before `socketReuse` went to 1,000, and no
 * port takes a query past 10 s (before: 100 s at 1 query a second); the queries on it then run to
 * their end. Shorter would cost a router NAT entries (each lives 30 s or more): at 1 s, a stream of
 * 10 queries a second would use 100 ports per 1,000 queries. At bulk rates `socketReuse` retires a
 * port long before (1,000 queries take 20-200 ms).
 */
const PORT_MAX_AGE_MS = 10_000;

/** What the pool needs of the gate: its current limit. */
export interface Limited {
  readonly limit: number;
}

/** How a resolver shares its UDP sockets (see `queriesPerSocket` and `socketReuse`). */
export interface Sharing {
  /** Exchanges in flight on one UDP socket at most. */
  readonly queriesPerSocket: number;
  /** Exchanges a UDP socket carries before it takes no more (a fresh port is used instead). */
  readonly socketReuse: number;
}

/**
 * The sockets of one gate. Each permit of the gate owns at most one socket, so the pool
 * never holds more open sockets (busy + idle) than the gate's limit: a permit holder that
 * needs a socket for another server closes an idle one first. A UDP socket carries up to
 * `queriesPerSocket` exchanges at once (each under its own permit), is reused by later permit
 * holders, and takes no more after `socketReuse` exchanges or any anomaly, which keeps the
 * number of source ports a home router's NAT table sees small. A TCP connection carries several
 * queries at once too (`MAX_IN_FLIGHT` in tcp.ts). Either counts as one socket however many
 * exchanges it carries, so the cap holds as well.
 */
export class SocketPool {
  #gate: Limited;
  /** Idle UDP sockets, oldest first. */
  #idle: UdpSocket[] = [];
  /** UDP sockets with exchanges in flight and room for more (`listed`), most recently freed last. */
  #room: UdpSocket[] = [];
  /** Idle TCP connections, oldest first. */
  #idleTcp: TcpConnection[] = [];
  /** Every TCP connection open, busy or idle. */
  #tcp = new Set<TcpConnection>();
  #open = 0;
  #clock: Clock;
  #sweeper: ClockTimer | undefined;
  readonly #sweep = () => this.#swept();
  readonly #lost = (conn: TcpConnection) => this.#closedIdle(conn);

  constructor(gate: Limited, clock: Clock) {
    this.#gate = gate;
    this.#clock = clock;
  }

  /** Sockets open now, busy or idle. */
  get open(): number {
    return this.#open;
  }

  /**
   * A channel to `endpoint` over `protocol`, reused when one fits: over UDP a socket with room
   * (one carrying exchanges first, so spare ones go idle and are swept, then an idle one), over
   * TCP a connection with room, busy or idle. Call only while holding a permit: every exchange
   * counts as a query in flight. A UDP socket's slot is taken by the `attach` that follows.
   */
  take(endpoint: Endpoint, protocol: Protocol, sharing: Sharing): Channel {
    if (protocol === 'tcp') return this.#takeTcp(endpoint);
    const k = sharing.queriesPerSocket;
    if (k > 1) {
      const room = this.#room;
      for (let i = room.length - 1; i >= 0; i--) {
        const ch = room[i]!;
        if (ch.capacity !== k || !sameEndpoint(ch.endpoint, endpoint)) continue;
        if (this.#spent(ch, sharing.socketReuse)) {
          // Retired or spent: it finishes the exchanges it carries, and closes with the last.
          this.#unlist(i);
          continue;
        }
        if (ch.busy + 1 >= k) this.#unlist(i);
        return ch;
      }
    }
    const idle = this.#idle;
    for (let i = idle.length - 1; i >= 0; i--) {
      const ch = idle[i]!;
      if (ch.capacity === k && sameEndpoint(ch.endpoint, endpoint)) {
        idle.splice(i, 1);
        if (!this.#spent(ch, sharing.socketReuse)) return this.#listed(ch);
        // Spent (by age, say): closed, and an older idle one may still serve.
        this.#close(ch);
      }
    }
    this.reserve();
    const ch = new UdpSocket(endpoint, k);
    ch.openedAt = this.#clock.now();
    return this.#listed(ch);
  }

  /** Whether a UDP socket must take no new query: broken, or past its uses or its age. */
  #spent(ch: UdpSocket, reuse: number): boolean {
    return !ch.usable || ch.uses >= reuse || this.#clock.now() - ch.openedAt >= PORT_MAX_AGE_MS;
  }

  /** A UDP socket about to carry one more exchange goes on the list of those with room, if it has. */
  #listed(ch: UdpSocket): UdpSocket {
    if (ch.capacity > 1 && !ch.listed) {
      ch.listed = true;
      this.#room.push(ch);
    }
    return ch;
  }

  #unlist(i: number): void {
    this.#room[i]!.listed = false;
    this.#room.splice(i, 1);
  }

  /**
   * RFC 7766 §6.2.1: a query goes on a connection already open to the server when one has room
   * (the busiest such, so that spare ones go idle and are swept), and opens one otherwise.
   */
  #takeTcp(endpoint: Endpoint): Channel {
    let best: TcpConnection | undefined;
    for (const conn of this.#tcp) {
      if (conn.fits(endpoint) && (best === undefined || conn.busy > best.busy)) best = conn;
    }
    if (best === undefined) {
      this.reserve();
      best = new TcpConnection(endpoint, this.#lost);
      this.#tcp.add(best);
    } else if (best.busy === 0) {
      this.#idleTcp.splice(this.#idleTcp.indexOf(best), 1);
    }
    return best.open();
  }

  /**
   * Counts one more open socket (a new UDP socket or TCP connection under a permit), closing the
   * oldest idle one first when the pool is full.
   */
  reserve(): void {
    if (this.#open >= this.#gate.limit) {
      const udp = this.#idle[0];
      const tcp = this.#idleTcp[0];
      if (tcp !== undefined && (udp === undefined || tcp.idleSince < udp.idleSince)) {
        this.#closeTcp(this.#idleTcp.shift()!);
      } else if (udp !== undefined) {
        this.#close(this.#idle.shift()!);
      }
    }
    this.#open++;
  }

  /** Gives back what {@link reserve} counted. */
  unreserve(): void {
    this.#open--;
  }

  /**
   * Gives back the channel of an exchange that ended (its `slot`): a UDP socket is kept for the
   * next exchanges, or closed once its last exchange ends (after a socket error, an anomaly,
   * `reuse` exchanges, or when the gate shrank). A TCP exchange leaves its connection to the others
   * on it; the last one out makes it idle, or closes it.
   */
  give(ch: Channel, slot: number, reuse: number, clean: boolean): void {
    ch.detach(slot);
    if (ch.protocol === 'tcp') {
      this.#gaveTcp((ch as TcpExchange).connection, clean);
      return;
    }
    const udp = ch as UdpSocket;
    if (!clean) udp.retire();
    if (udp.busy > 0) {
      // A full socket has room again (unless it takes no more; take() drops those it meets).
      if (!udp.listed && !this.#spent(udp, reuse)) this.#listed(udp);
      return;
    }
    if (udp.listed) this.#unlist(this.#room.indexOf(udp));
    if (this.#spent(udp, reuse) || this.#open > this.#gate.limit) {
      this.#close(udp);
      return;
    }
    udp.idleSince = this.#clock.now();
    this.#idle.push(udp);
    this.#idled();
  }

  // `socketReuse` is about the UDP source ports a NAT sees: a TCP connection is kept however many
  // exchanges it carried, until it is idle too long or the server closes it.
  #gaveTcp(conn: TcpConnection, clean: boolean): void {
    if (!clean) conn.retire();
    if (conn.busy > 0) return;
    if (!conn.usable || this.#open > this.#gate.limit) {
      this.#closeTcp(conn);
      return;
    }
    conn.idleSince = this.#clock.now();
    this.#idleTcp.push(conn);
    this.#idled();
  }

  /** An idle connection the server closed (its idle timeout, say) is no longer open. */
  #closedIdle(conn: TcpConnection): void {
    if (conn.busy > 0 || !this.#tcp.has(conn)) return;
    const i = this.#idleTcp.indexOf(conn);
    if (i >= 0) this.#idleTcp.splice(i, 1);
    this.#closeTcp(conn);
  }

  #idled(): void {
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
    for (const conn of this.#idleTcp.splice(0)) this.#closeTcp(conn);
    this.#stopSweeper();
  }

  #close(ch: UdpSocket): void {
    ch.close();
    this.#open--;
  }

  #closeTcp(conn: TcpConnection): void {
    this.#tcp.delete(conn);
    conn.close();
    this.#open--;
  }

  #swept(): void {
    this.#sweeper = undefined;
    const cutoff = this.#clock.now() - IDLE_MS;
    for (const ch of idleBefore(this.#idle, cutoff)) this.#close(ch);
    for (const conn of idleBefore(this.#idleTcp, cutoff)) this.#closeTcp(conn);
    if (this.#idle.length === 0 && this.#idleTcp.length === 0) this.#stopSweeper();
    else this.#arm();
  }

  #stopSweeper(): void {
    if (this.#sweeper !== undefined) this.#clock.clearTimeout(this.#sweeper);
    this.#sweeper = undefined;
    withIdle.delete(this);
  }
}

/** Takes out of `idle` (oldest first) the sockets that went idle at `cutoff` or before. */
function idleBefore<T extends PooledSocket>(idle: T[], cutoff: number): T[] {
  let n = 0;
  while (n < idle.length && idle[n]!.idleSince <= cutoff) n++;
  return idle.splice(0, n);
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
 * and its sockets' ages run on the clock of the first).
 */
export function poolFor(gate: Limited, clock: Clock): SocketPool {
  let pool = pools.get(gate);
  if (!pool) {
    pool = new SocketPool(gate, clock);
    pools.set(gate, pool);
  }
  return pool;
}
