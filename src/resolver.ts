import { type Answered, type DispatchConfig, dispatch, type Job } from './dispatcher.js';
import { codes, DnsError } from './errors.js';
import {
  checkInteger,
  checkSignal,
  DEFAULT_CONCURRENCY,
  DEFAULT_SOCKET_REUSE,
  DEFAULT_TIMEOUT,
  DEFAULT_TRIES,
} from './options.js';
import { type MxRecord, toMx } from './records.js';
import { Semaphore } from './semaphore.js';
import { formatServer, parseServers, type ServerAddress, systemServers } from './servers.js';
import { poolFor } from './sockets.js';
import { type Answer, DEFAULT_UDP_PAYLOAD, type Question, type RecordType, typeCode } from './wire/codec.js';
import { toWireName } from './wire/names.js';

/** Options of {@link Resolver}. Every one is optional. */
export interface ResolverOptions {
  /** Nameservers, `'1.2.3.4'`, `'1.2.3.4:5353'`, `'::1'`, `'[::1]:5353'`. Default: /etc/resolv.conf, else 127.0.0.1. */
  servers?: string[];
  /** Give this resolver its own gate of this many sockets in flight. Default 16. */
  concurrency?: number;
  /** Share a gate (for example {@link sharedSemaphore}) with other resolvers instead. */
  semaphore?: Semaphore;
  /** First-try timeout in ms; doubles each round, as in node (c-ares). Default 2000. */
  timeout?: number;
  /** Tries per server, as in node. Default 4. */
  tries?: number;
  /** Exchanges per UDP socket before a fresh port is used; 1 = a fresh port per query. Default 100. */
  socketReuse?: number;
}

/** Per-call options. */
export interface CallOptions {
  /** Aborting rejects the call with ECANCELLED and frees its permit. */
  signal?: AbortSignal;
}

/** Header flags of a response. */
export interface MessageFlags {
  /** Authoritative answer. */
  aa: boolean;
  /** Truncated. */
  tc: boolean;
  /** Recursion desired. */
  rd: boolean;
  /** Recursion available. */
  ra: boolean;
  /** Authentic data (DNSSEC). */
  ad: boolean;
  /** Checking disabled (DNSSEC). */
  cd: boolean;
}

/** A whole response, as Twisted gives it: answers, authority and additional sections. */
export interface DnsMessage {
  id: number;
  /** `'NOERROR'`, `'NXDOMAIN'`, ... */
  rcode: string;
  flags: MessageFlags;
  questions: Question[];
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
  /** The server that answered, `host:port`. */
  server: string;
}

/**
 * A DNS stub resolver with node's `dns.promises.Resolver` surface, pointed at the nameservers
 * you choose, whose queries all pass a gate that caps the sockets in flight.
 *
 * @example
 * ```ts
 * import { Resolver } from 'dnsgate';
 * const resolver = new Resolver({ servers: ['127.0.0.1:5353'], concurrency: 2 });
 * const mx = await resolver.resolveMx('example.com'); // [{ exchange, priority }]
 * const msg = await resolver.query('example.com', 'MX'); // { rcode, answers, authorities, additionals, ... }
 * ```
 */
export class Resolver {
  #servers: ServerAddress[];
  #gate: Semaphore;
  #timeout: number;
  #tries: number;
  #socketReuse: number;
  #jobs = new Set<Job>();

  constructor(options: ResolverOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(
        `Expected \`options\` to be an object, got ${options === null ? 'null' : typeof options}`,
      );
    }
    this.#servers = options.servers === undefined ? systemServers() : parseServers(options.servers);
    if (options.semaphore !== undefined && options.concurrency !== undefined) {
      throw new TypeError('Pass either `concurrency` or `semaphore`, not both');
    }
    if (options.semaphore !== undefined) {
      // By shape, not instanceof: the shared gate may come from another copy of this package (ESM vs CJS).
      if (!isGate(options.semaphore)) throw new TypeError('Expected `semaphore` to be a Semaphore');
      this.#gate = options.semaphore;
    } else {
      this.#gate = new Semaphore(checkInteger('concurrency', options.concurrency ?? DEFAULT_CONCURRENCY, 1));
    }
    this.#timeout = checkInteger('timeout', options.timeout ?? DEFAULT_TIMEOUT, 1, 2 ** 31 - 1);
    this.#tries = checkInteger('tries', options.tries ?? DEFAULT_TRIES, 1, 100);
    this.#socketReuse = checkInteger('socketReuse', options.socketReuse ?? DEFAULT_SOCKET_REUSE, 1);
  }

  /** The gate this resolver's queries pass. */
  get semaphore(): Semaphore {
    return this.#gate;
  }

  /**
   * The nameservers in node's form (`'1.2.3.4'`, `'1.2.3.4:5353'`, `'[::1]:5353'`).
   *
   * @example
   * ```ts
   * new Resolver({ servers: ['127.0.0.1:5353'] }).getServers(); // ['127.0.0.1:5353']
   * ```
   */
  getServers(): string[] {
    return this.#servers.map(formatServer);
  }

  /**
   * Replaces the nameservers; throws TypeError naming the first invalid one.
   *
   * @example
   * ```ts
   * resolver.setServers(['127.0.0.1:5353', '[::1]:5353']);
   * ```
   */
  setServers(servers: string[]): void {
    this.#servers = parseServers(servers);
  }

  /**
   * Cancels every query of this resolver in flight or waiting for a permit; each rejects
   * with ECANCELLED and its permit comes back.
   *
   * @example
   * ```ts
   * const pending = resolver.resolveMx('example.com');
   * resolver.cancel(); // pending rejects with code 'ECANCELLED'
   * ```
   */
  cancel(): void {
    for (const job of this.#jobs) this.#abort(job, undefined);
  }

  /**
   * Asks one question and resolves to the whole response. Rejects only when no server
   * gave an answer; NXDOMAIN and NODATA are answers (see `rcode`).
   *
   * @example
   * ```ts
   * const { rcode, answers, authorities, additionals } = await resolver.query('example.com', 'MX');
   * ```
   */
  async query(name: string, type: RecordType = 'A', options?: CallOptions): Promise<DnsMessage> {
    if (typeof type !== 'string' || typeCode(type) === 0) {
      throw new TypeError(`Invalid record type ${JSON.stringify(type)}`);
    }
    const { message, server } = await this.#run(
      name,
      type,
      `query${type[0]}${type.slice(1).toLowerCase()}`,
      options,
    );
    return {
      id: message.id,
      rcode: message.rcode,
      flags: {
        aa: message.flag_aa,
        tc: message.flag_tc,
        rd: message.flag_rd,
        ra: message.flag_ra,
        ad: message.flag_ad,
        cd: message.flag_cd,
      },
      questions: message.questions,
      answers: message.answers,
      authorities: message.authorities,
      additionals: message.additionals,
      server: server.label,
    };
  }

  /**
   * Mail exchangers, as node returns them: `[{ exchange, priority }]`.
   *
   * @example
   * ```ts
   * for (const { exchange, priority } of await resolver.resolveMx('example.com')) console.log(priority, exchange);
   * ```
   */
  resolveMx(name: string, options?: CallOptions): Promise<MxRecord[]> {
    return this.#records(name, 'MX', 'queryMx', options, toMx);
  }

  async #records<T>(
    name: string,
    type: RecordType,
    syscall: string,
    options: CallOptions | undefined,
    shape: (answers: Answer[]) => T[],
  ): Promise<T[]> {
    const { message } = await this.#run(name, type, syscall, options);
    const hostname = name;
    if (message.rcode === 'NXDOMAIN') throw new DnsError(codes.NOTFOUND, { syscall, hostname });
    const records = shape(message.answers);
    if (records.length === 0) throw new DnsError(codes.NODATA, { syscall, hostname });
    return records;
  }

  async #run(
    name: string,
    type: RecordType,
    syscall: string,
    options: CallOptions | undefined,
  ): Promise<Answered> {
    if (typeof name !== 'string') {
      throw new TypeError(`Expected \`name\` to be a string, got ${name === null ? 'null' : typeof name}`);
    }
    const signal = checkSignal(options?.signal);
    const wireName = toWireName(name);
    if (wireName === undefined) throw new DnsError(codes.BADNAME, { syscall, hostname: name });
    if (signal?.aborted) throw cancelled(syscall, name, signal.reason);
    const job: Job = { name: wireName, type, syscall, hostname: name, cancelled: undefined, interrupt: null };
    const onAbort = () => this.#abort(job, signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#jobs.add(job);
    const config: DispatchConfig = {
      gate: this.#gate,
      pool: poolFor(this.#gate),
      servers: this.#servers,
      timeout: this.#timeout,
      tries: this.#tries,
      socketReuse: this.#socketReuse,
      udpPayload: DEFAULT_UDP_PAYLOAD,
    };
    try {
      return await dispatch(config, job);
    } finally {
      this.#jobs.delete(job);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  #abort(job: Job, reason: unknown): void {
    if (job.cancelled !== undefined) return;
    job.cancelled = cancelled(job.syscall, job.hostname, reason);
    job.interrupt?.(job.cancelled);
  }
}

function isGate(value: unknown): value is Semaphore {
  const g = value as Semaphore | null;
  return (
    typeof g === 'object' &&
    g !== null &&
    typeof g.acquire === 'function' &&
    typeof g.release === 'function' &&
    typeof g.tryAcquire === 'function' &&
    typeof g.limit === 'number'
  );
}

function cancelled(syscall: string, hostname: string, reason: unknown): DnsError {
  return new DnsError(codes.CANCELLED, { syscall, hostname, cause: reason });
}
