// The common case of a query as one object and no promise of its own: a permit free at once, the
// first server's first UDP try, and a final answer. Anything else (a wait for the gate, a pace,
// TCP, the EDNS fallback, failover, retries) goes on in the dispatcher's try loop, from where
// this fast path stopped.
import {
  type Answered,
  afterLingering,
  type DispatchConfig,
  dispatch,
  endpointsOf,
  type Job,
  underPermit,
} from './dispatcher.js';
import { codes } from './errors.js';
import { type Attempt, Exchange } from './exchange.js';
import type { ServerAddress } from './servers.js';
import type { UdpChannel } from './transport/udp.js';
import { CLASSIC_UDP_PAYLOAD, type DecodedPacket, newQueryId, type RecordType } from './wire/codec.js';
import { MAX_QUERY, wireNameLength, writeQuery } from './wire/encode.js';
import { rcodeOf } from './wire/lazy.js';

/** RFC 1035 §4.1.1 rcodes. */
const NOERROR = 0;
const NXDOMAIN = 3;

/**
 * One query on its way: the job the dispatcher runs, and the exchange of its first try. It ends
 * in exactly one call of {@link answered} or {@link failed}.
 */
export abstract class Flight extends Exchange implements Job {
  readonly name: string;
  readonly type: RecordType;
  readonly qtype: number;
  readonly syscall: string;
  readonly hostname: string;
  cancelled: unknown;
  held = false;
  interrupt: ((reason: unknown) => void) | null = null;
  #cfg: DispatchConfig | null = null;
  #ch: UdpChannel | null = null;

  constructor(name: string, type: RecordType, qtype: number, syscall: string, hostname: string) {
    super();
    this.name = name;
    this.type = type;
    this.qtype = qtype;
    this.syscall = syscall;
    this.hostname = hostname;
  }

  /** The query was answered by `server` (NOERROR or NXDOMAIN). */
  protected abstract answered(message: DecodedPacket, server: ServerAddress): void;
  /** The query failed (a DnsError, or the reason it was cancelled). */
  protected abstract failed(error: unknown): void;
  abstract check(): void;

  /**
   * Starts the query under `cfg`. `held`: the caller already holds a permit for it (a bulk run)
   * and gives it back itself.
   */
  fly(cfg: DispatchConfig, held: boolean): void {
    this.held = held;
    const gate = cfg.gate;
    if (!held && !gate.tryAcquire()) {
      this.#follow(dispatch(cfg, this));
      return;
    }
    if (cfg.pace !== undefined || cfg.tcp === 'always' || cfg.servers.length === 0) {
      this.#follow(underPermit(cfg, this));
      return;
    }
    const pool = cfg.pool;
    const ch = pool.take(endpointsOf(cfg)[0]!);
    // The socket's own buffer: it carries one exchange at a time, and a socket whose exchange did
    // not end cleanly is closed, never reused, so no send can still be reading these bytes.
    ch.buffer ??= Buffer.allocUnsafe(MAX_QUERY);
    const buf = ch.buffer;
    const payload = cfg.udpPayload;
    const query = buf.subarray(0, writeQuery(buf, newQueryId(), this.name, this.qtype, payload));
    this.#cfg = cfg;
    this.#ch = ch;
    this.interrupt = this.#interrupted;
    // RFC 6891 §6.2.5: a UDP answer is never larger than we said we accept (512 without EDNS).
    const maxSize = Math.min(cfg.maxResponseSize, Math.max(payload, CLASSIC_UDP_PAYLOAD));
    this.start(ch, query, 12 + wireNameLength(this.name) + 4, cfg.timeout, maxSize, cfg.counters);
  }

  protected exchanged(): void {
    this.interrupt = null;
    const cfg = this.#cfg!;
    const message = this.answer;
    // A timeout leaves the socket fit (it knows to drop the late answer); a socket error does not.
    cfg.pool.give(this.#ch!, cfg.socketReuse, message !== null || this.code === codes.TIMEOUT);
    this.#ch = null;
    let first: Attempt;
    if (message !== null) {
      const rcode = rcodeOf(message);
      // Final unless truncated (RFC 7766 §5: ask over TCP), a FORMERR to our OPT (RFC 6891 §7:
      // ask without it), or an rcode that sends the try loop to the next server.
      if ((rcode === NOERROR || rcode === NXDOMAIN) && !message.flag_tc) {
        if (!this.held) cfg.gate.release();
        this.answered(message, cfg.servers[0]!);
        return;
      }
      first = { ok: true, message };
    } else {
      first = { ok: false, code: this.code, cause: this.cause, anomaly: true };
    }
    this.#follow(underPermit(cfg, this, first));
  }

  /**
   * `job.interrupt` while the first try waits, called as a method of this flight: the call fails
   * with the reason at once, and the query lingers on the wire with its socket and a permit until
   * it is answered or times out (see Exchange#linger). A permit held for it by a bulk run goes
   * back with the call, so it takes one of its own; with none free it is dropped at once (the
   * socket, which knows to skip its late answer, goes back to the pool).
   */
  #interrupted(reason: unknown): void {
    this.interrupt = null;
    const cfg = this.#cfg!;
    const ch = this.#ch!;
    this.#ch = null;
    const after = afterLingering(cfg, this, ch);
    if (after !== null) {
      this.linger(after);
    } else {
      this.abandon();
      cfg.pool.give(ch, cfg.socketReuse, true);
    }
    this.failed(reason);
  }

  #follow(rest: Promise<Answered>): void {
    rest.then(
      (a) => this.answered(a.message, a.server),
      (err: unknown) => this.failed(err),
    );
  }
}
