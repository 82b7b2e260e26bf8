// The Resolver: node's dns.promises.Resolver surface (plus query() and resolveEach) over the query path:
// it checks arguments at the edge, makes a Call per lookup (lookup/call.ts), and shapes the answer.
import { isIP } from 'node:net';
import { checkString, invalidArgValue } from './args.js';
import { BulkRun, type ResolveEachOptions } from './bulk/each.js';
import type { DispatchConfig, Gate } from './dispatch/config.js';
import { checkKeys, codes, DnsError, typeError } from './errors.js';
import type { AdaptiveSettings, LimitView } from './gate/adaptive.js';
import { type CacheScope, type DnsCache, storeOf } from './lookup/cache.js';
import { type Ask, Call, type Finish, type Launch, type RunScope } from './lookup/call.js';
import type { Lanes } from './lookup/coalesce.js';
import { Registry } from './lookup/registry.js';
import { type MailHosts, mailHosts } from './mail.js';
import {
  buildConfig,
  checkSignal,
  endpointsFor,
  type Local,
  limitsFor,
  type ResolverOptions,
} from './options.js';
import {
  type AskedQuestion,
  toAddresses,
  toAddressesWithTtl,
  toAny,
  toCaa,
  toCname,
  toMx,
  toNaptr,
  toNs,
  toPtr,
  toSoa,
  toSrv,
  toTxt,
} from './records.js';
import { qtypeOf, toMessage, toRecords } from './results.js';
import { formatServer, parseServers, type ServerAddress } from './servers.js';
import type {
  AnyRecord,
  CaaRecord,
  CallOptions,
  DnsMessage,
  MxRecord,
  NaptrRecord,
  RecordWithTtl,
  ResolverStats,
  ResultByType,
  SoaRecord,
  SrvRecord,
  TtlOptions,
} from './types.js';
import { type Answer, type RecordType, typeCode } from './wire/codec.js';
import { isSpecialUse, reverseName, toWireName } from './wire/names.js';

// Node's shape for each rrtype that resolve() takes.
const SHAPES = {
  A: toAddresses,
  AAAA: toAddresses,
  ANY: toAny,
  CAA: toCaa,
  CNAME: toCname,
  MX: toMx,
  NAPTR: toNaptr,
  NS: toNs,
  PTR: toPtr,
  SOA: toSoa,
  SRV: toSrv,
  TXT: toTxt,
} as const;

const withTtl = (answers: Answer[], question?: AskedQuestion) => toAddressesWithTtl(answers, question);

/** Node's `syscall` for a query of each type: `queryMx`, `queryAaaa`, ... */
const SYSCALLS = new Map<string, string>();
function syscallFor(type: string): string {
  let syscall = SYSCALLS.get(type);
  if (syscall === undefined) {
    syscall = `query${type[0]}${type.slice(1).toLowerCase()}`;
    SYSCALLS.set(type, syscall);
  }
  return syscall;
}

/** A record shape: the answers of one type in node's form. */
type Shape = (answers: Answer[], question?: AskedQuestion) => unknown[];

const RECORD_ASKS = new Map<Shape, Map<RecordType, Ask<unknown[]>>>();
const MESSAGE_ASKS = new Map<RecordType, Ask<DnsMessage>>();

/** What a resolveX(name) call asks: records of `type`, in `shape`, coalesced. Made once per pair. */
function recordsAsk(type: RecordType, shape: Shape): Ask<unknown[]> {
  let byType = RECORD_ASKS.get(shape);
  if (byType === undefined) {
    byType = new Map();
    RECORD_ASKS.set(shape, byType);
  }
  let ask = byType.get(type);
  if (ask === undefined) {
    ask = {
      type,
      qtype: qtypeOf(type),
      syscall: syscallFor(type),
      finish: toRecords as Finish<unknown[]>,
      detail: shape,
      coalesce: true,
    };
    byType.set(type, ask);
  }
  return ask;
}

/** What a query(name, type) call asks: the whole message, never coalesced. */
function messageAsk(type: RecordType): Ask<DnsMessage> {
  let ask = MESSAGE_ASKS.get(type);
  if (ask === undefined) {
    ask = {
      type,
      qtype: qtypeOf(type),
      syscall: syscallFor(type),
      finish: toMessage,
      detail: undefined,
      coalesce: false,
    };
    MESSAGE_ASKS.set(type, ask);
  }
  return ask;
}

/** reverse(ip): PTR records of the reverse name, with c-ares's syscall. */
const REVERSE: Ask<string[]> = {
  ...(recordsAsk('PTR', SHAPES.PTR as Shape) as Ask<string[]>),
  syscall: 'getHostByAddr',
};

/** The options resolveEach takes (ResolveEachOptions' keys). */
const EACH_KEYS: readonly (keyof ResolveEachOptions)[] = ['ordered', 'signal'];

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
  #gate: Gate;
  #calls = new Registry<Call<unknown>>();
  /** Calls in flight by question, for coalescing; undefined with `coalesce: false`. */
  #lanes: Lanes<Call<unknown>> | undefined;
  #servers: readonly ServerAddress[];
  #adaptive: AdaptiveSettings | undefined;
  /** Where calls start (config, registry, lanes, deadline), made again when servers change. */
  #launch: Launch;
  #local: Local = {};
  #deadline: number | undefined;
  /** What every query of this resolver is dispatched with; rebuilt when servers change. */
  #config: DispatchConfig;
  #cache: DnsCache | undefined;

  constructor(options: ResolverOptions = {}) {
    const { config, servers, adaptive, deadline, coalesce, cache } = buildConfig(options);
    this.#cache = cache;
    this.#servers = servers;
    this.#adaptive = adaptive;
    this.#lanes = coalesce ? new Map() : undefined;
    this.#config = config;
    this.#gate = config.gate;
    this.#deadline = deadline;
    this.#launch = this.#launchOf();
  }

  /**
   * Counts since this resolver was made: queries sent, answers accepted, messages skipped
   * (forged or mismatched: wrong ID, question or QR), malformed ones, and tries timed out.
   *
   * @example
   * ```ts
   * const { sent, skipped, malformed } = resolver.stats;
   * ```
   */
  get stats(): ResolverStats {
    return { ...this.#config.counters };
  }

  /**
   * Each server's adaptive limit now (empty with `adaptive: false`): the working limit, the hard
   * ceiling, the loss edge while remembered, queries in flight, losses, cuts and the smoothed RTT
   * of answers.
   *
   * @example
   * ```ts
   * for (const { server, limit, ceiling, edge } of resolver.limits) console.log(server, limit, ceiling, edge);
   * ```
   */
  get limits(): LimitView[] {
    return this.#config.limits?.map((l) => l.view) ?? [];
  }

  /**
   * The answer cache (`cache` option), or undefined when answers are not cached.
   *
   * @example
   * ```ts
   * const resolver = new Resolver({ servers: ['127.0.0.1:5353'], cache: true });
   * await resolver.resolveMx('example.com');
   * resolver.cache?.size; // 1
   * resolver.cache?.delete('example.com', 'MX');
   * ```
   */
  get cache(): DnsCache | undefined {
    return this.#cache;
  }

  /** The gate this resolver's queries pass. */
  get semaphore(): Gate {
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
   * Replaces the nameservers, with node's rules (see {@link ResolverOptions.servers}): node's
   * ERR_INVALID_ARG_TYPE / ERR_INVALID_IP_ADDRESS for the first invalid one, holes and repeats
   * dropped. Unlike node, it may be called while queries are pending: calls made before it
   * (on the wire or waiting for a permit) keep the servers they started with; calls made after it
   * use the new ones. It clears the cache (all of it, when shared): answers of the old servers are
   * not served for the new ones.
   *
   * @example
   * ```ts
   * resolver.setServers(['127.0.0.1:5353', '[::1]:5353']);
   * ```
   */
  setServers(servers: readonly string[]): void {
    this.#servers = parseServers(servers);
    this.#cache?.clear();
    this.#reconfigure();
  }

  /**
   * Sends from these local addresses (node's `setLocalAddress`): one IPv4 and one IPv6 address,
   * in either order (`setLocalAddress('::1')` alone is fine); a family not given goes back to the
   * OS's choice. Node's errors: ERR_INVALID_ARG_TYPE for a non-string, ERR_INVALID_ARG_VALUE for
   * an invalid address or two of one family.
   *
   * @example
   * ```ts
   * resolver.setLocalAddress('127.0.0.2', '::1');
   * ```
   */
  setLocalAddress(ipv4: string, ipv6?: string): void {
    checkString(ipv4, 'ipv4');
    if (ipv6 !== undefined) checkString(ipv6, 'ipv6');
    const local: Local = {};
    for (const address of ipv6 === undefined ? [ipv4] : [ipv4, ipv6]) {
      const family = isIP(address) as 0 | 4 | 6;
      // Node throws these from C++: plain TypeErrors with a code.
      if (family === 0) throw invalidArgValue('Invalid IP address.', true);
      if (local[family] !== undefined)
        throw invalidArgValue(`Cannot specify two IPv${family} addresses.`, true);
      local[family] = address;
    }
    this.#local = local;
    this.#reconfigure();
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
    for (const call of this.#calls.list()) call.abort(undefined);
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
  query(name: string, type: RecordType | 'ANY' = 'A', options?: CallOptions): Promise<DnsMessage> {
    checkString(type, 'type');
    if (typeCode(type) === 0) throw invalidArgValue(`The argument 'type' is invalid. Received '${type}'`);
    return this.#start(name, messageAsk(type as RecordType), options);
  }

  /**
   * Node's `resolve(hostname, rrtype)`: the records of one type in node's shape for that type.
   *
   * @example
   * ```ts
   * await resolver.resolve('example.com', 'MX'); // [{ exchange, priority }]
   * await resolver.resolve('example.com');       // A: ['93.184.215.14']
   * ```
   */
  resolve(
    name: string,
    rrtype?: 'A' | 'AAAA' | 'CNAME' | 'NS' | 'PTR',
    options?: CallOptions,
  ): Promise<string[]>;
  resolve(name: string, rrtype: 'ANY', options?: CallOptions): Promise<AnyRecord[]>;
  resolve(name: string, rrtype: 'CAA', options?: CallOptions): Promise<CaaRecord[]>;
  resolve(name: string, rrtype: 'MX', options?: CallOptions): Promise<MxRecord[]>;
  resolve(name: string, rrtype: 'NAPTR', options?: CallOptions): Promise<NaptrRecord[]>;
  resolve(name: string, rrtype: 'SOA', options?: CallOptions): Promise<SoaRecord>;
  resolve(name: string, rrtype: 'SRV', options?: CallOptions): Promise<SrvRecord[]>;
  resolve(name: string, rrtype: 'TXT', options?: CallOptions): Promise<string[][]>;
  resolve(name: string, rrtype?: string, options?: CallOptions): Promise<ResultByType[keyof ResultByType]>;
  resolve(
    name: string,
    rrtype: string = 'A',
    options?: CallOptions,
  ): Promise<ResultByType[keyof ResultByType]> {
    // As node: an unknown rrtype throws at once, not as a rejection.
    const shape = shapeOf(rrtype);
    if (rrtype === 'SOA') return this.resolveSoa(name, options);
    return this.#records(name, rrtype as RecordType, shape as (a: Answer[]) => unknown[], options) as Promise<
      ResultByType[keyof ResultByType]
    >;
  }

  /**
   * IPv4 addresses; with `{ ttl: true }`, `[{ address, ttl }]`.
   *
   * @example
   * ```ts
   * await resolver.resolve4('example.com');                // ['192.0.2.1']
   * await resolver.resolve4('example.com', { ttl: true }); // [{ address: '192.0.2.1', ttl: 300 }]
   * ```
   */
  resolve4(name: string, options: TtlOptions & { ttl: true }): Promise<RecordWithTtl[]>;
  resolve4(name: string, options?: TtlOptions): Promise<string[]>;
  resolve4(name: string, options?: TtlOptions): Promise<string[] | RecordWithTtl[]> {
    return this.#records<string | RecordWithTtl>(
      name,
      'A',
      options?.ttl ? withTtl : SHAPES.A,
      options,
    ) as Promise<string[] | RecordWithTtl[]>;
  }

  /**
   * IPv6 addresses; with `{ ttl: true }`, `[{ address, ttl }]`.
   *
   * @example
   * ```ts
   * await resolver.resolve6('example.com'); // ['2001:db8::1']
   * ```
   */
  resolve6(name: string, options: TtlOptions & { ttl: true }): Promise<RecordWithTtl[]>;
  resolve6(name: string, options?: TtlOptions): Promise<string[]>;
  resolve6(name: string, options?: TtlOptions): Promise<string[] | RecordWithTtl[]> {
    return this.#records<string | RecordWithTtl>(
      name,
      'AAAA',
      options?.ttl ? withTtl : SHAPES.AAAA,
      options,
    ) as Promise<string[] | RecordWithTtl[]>;
  }

  /**
   * Every record at the name (an ANY query), each tagged with its `type`, as node returns them.
   *
   * @example
   * ```ts
   * await resolver.resolveAny('example.com'); // [{ type: 'A', address, ttl }, { type: 'MX', exchange, priority }, ...]
   * ```
   */
  resolveAny(name: string, options?: CallOptions): Promise<AnyRecord[]> {
    return this.#records(name, 'ANY' as RecordType, SHAPES.ANY, options);
  }

  /**
   * CAA records: `[{ critical, issue | issuewild | iodef | ... }]`.
   *
   * @example
   * ```ts
   * await resolver.resolveCaa('example.com'); // [{ critical: 0, issue: 'letsencrypt.org' }]
   * ```
   */
  resolveCaa(name: string, options?: CallOptions): Promise<CaaRecord[]> {
    return this.#records(name, 'CAA', SHAPES.CAA, options);
  }

  /**
   * CNAME targets.
   *
   * @example
   * ```ts
   * await resolver.resolveCname('www.example.com'); // ['example.com']
   * ```
   */
  resolveCname(name: string, options?: CallOptions): Promise<string[]> {
    return this.#records(name, 'CNAME', SHAPES.CNAME, options);
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
    return this.#records(name, 'MX', SHAPES.MX, options);
  }

  /**
   * Where to deliver mail for `domain` (RFC 5321 §5.1): its MX hosts, most preferred first; the
   * domain itself (priority 0) when it has no MX records; none when it publishes a null MX
   * (RFC 7505). A domain that does not exist rejects with ENOTFOUND, as `resolveMx` does.
   *
   * @example
   * ```ts
   * const { hosts, source } = await resolver.resolveMailHosts('example.com');
   * // source 'mx': [{ exchange: 'mx1.example.com', priority: 10 }, { exchange: 'mx2.example.com', priority: 20 }]
   * // source 'implicit': [{ exchange: 'example.com', priority: 0 }]; source 'null': []
   * ```
   */
  resolveMailHosts(domain: string, options?: CallOptions): Promise<MailHosts> {
    return mailHosts(domain, this.resolveMx(domain, options));
  }

  /**
   * NAPTR records: `[{ flags, service, regexp, replacement, order, preference }]`.
   *
   * @example
   * ```ts
   * await resolver.resolveNaptr('example.com');
   * ```
   */
  resolveNaptr(name: string, options?: CallOptions): Promise<NaptrRecord[]> {
    return this.#records(name, 'NAPTR', SHAPES.NAPTR, options);
  }

  /**
   * Name servers.
   *
   * @example
   * ```ts
   * await resolver.resolveNs('example.com'); // ['a.iana-servers.net', 'b.iana-servers.net']
   * ```
   */
  resolveNs(name: string, options?: CallOptions): Promise<string[]> {
    return this.#records(name, 'NS', SHAPES.NS, options);
  }

  /**
   * PTR targets.
   *
   * @example
   * ```ts
   * await resolver.resolvePtr('1.2.0.192.in-addr.arpa'); // ['host.example.com']
   * ```
   */
  resolvePtr(name: string, options?: CallOptions): Promise<string[]> {
    return this.#records(name, 'PTR', SHAPES.PTR, options);
  }

  /**
   * The SOA record: `{ nsname, hostmaster, serial, refresh, retry, expire, minttl }`.
   *
   * @example
   * ```ts
   * const { nsname, serial } = await resolver.resolveSoa('example.com');
   * ```
   */
  resolveSoa(name: string, options?: CallOptions): Promise<SoaRecord> {
    return this.#records<SoaRecord>(name, 'SOA', SHAPES.SOA as Shape, options).then(firstOf);
  }

  /**
   * SRV records: `[{ priority, weight, port, name }]`.
   *
   * @example
   * ```ts
   * await resolver.resolveSrv('_sip._tcp.example.com'); // [{ priority: 10, weight: 5, port: 5060, name: 'sip.example.com' }]
   * ```
   */
  resolveSrv(name: string, options?: CallOptions): Promise<SrvRecord[]> {
    return this.#records(name, 'SRV', SHAPES.SRV, options);
  }

  /**
   * TXT records, each as its list of strings (chunks).
   *
   * @example
   * ```ts
   * await resolver.resolveTxt('example.com'); // [['v=spf1 -all']]
   * ```
   */
  resolveTxt(name: string, options?: CallOptions): Promise<string[][]> {
    return this.#records(name, 'TXT', SHAPES.TXT, options);
  }

  /**
   * The host names of an IPv4 or IPv6 address (a PTR query on its reverse name).
   *
   * @example
   * ```ts
   * await resolver.reverse('192.0.2.1'); // ['host.example.com']
   * ```
   */
  reverse(ip: string, options?: CallOptions): Promise<string[]> {
    // As node: the name check throws; an address that is none rejects with EINVAL.
    checkString(ip, 'name');
    const family = isIP(ip);
    if (family === 0) {
      return Promise.reject(new DnsError(codes.INVAL, { syscall: 'getHostByAddr', hostname: ip }));
    }
    return this.#start(reverseName(ip, family as 4 | 6), REVERSE, options, ip).catch((err: unknown) => {
      // As c-ares's getHostByAddr: whatever the server said (REFUSED, SERVFAIL, silence), the
      // address has no name: ENOTFOUND, the server's own error as the cause. A cancel stays one.
      if (!(err instanceof DnsError) || err.code === codes.CANCELLED || err.code === codes.NOTFOUND)
        throw err;
      throw new DnsError(codes.NOTFOUND, {
        syscall: 'getHostByAddr',
        hostname: ip,
        cause: err,
        server: err.server,
      });
    });
  }

  /**
   * Resolves many names, lazily: takes the next name only when the gate has a free token (and
   * the consumer keeps up), and yields one settled result per name, exactly once —
   * `{ index, name, ok: true, value }` or `{ index, name, ok: false, error }` — in completion
   * order, or input order with `ordered`. Memory stays bounded by the gate, not the input, so a
   * stream of millions of names is fine. Values have node's shape for `rrtype` (default `'A'`).
   *
   * @example
   * ```ts
   * const run = resolver.resolveEach(readLines('domains.txt'), 'MX', { ordered: true });
   * for await (const r of run) {
   *   if (r.ok) for (const mx of r.value) console.log(r.name.padEnd(15), mx.exchange);
   *   else console.error(r.name, r.error.code);
   * }
   * console.error(run.progress); // { started, settled, ok, failed, inFlight }
   * ```
   */
  resolveEach<K extends keyof ResultByType = 'A'>(
    names: Iterable<string> | AsyncIterable<string>,
    rrtype?: K,
    options?: ResolveEachOptions,
  ): BulkRun<ResultByType[K]> {
    const type = (rrtype ?? 'A') as keyof ResultByType;
    const shape = shapeOf(type);
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw typeError('Expected `options` to be an object');
    }
    if (options !== undefined) checkKeys(options, EACH_KEYS, 'resolveEach option');
    checkSignal(options?.signal);
    const ask = recordsAsk(type as RecordType, shape as Shape);
    // The run's queries carry this tag: leaving the loop early, or the caller's signal, aborts
    // exactly them (a signal listener per query would cost an EventTarget add and remove each).
    const scope: RunScope = {};
    // The bulk run holds this query's permit already: the query must not take a second one.
    const lookup = (name: string) => {
      const records = this.#start(name, ask, undefined, name, scope);
      return (type === 'SOA' ? records.then((r) => r[0]) : records) as Promise<ResultByType[K]>;
    };
    const cancel = (reason: unknown) => {
      for (const call of this.#calls.list()) if (call.scope === scope) call.abort(reason);
    };
    return new BulkRun(this.#gate, names, lookup, cancel, options);
  }

  #records<T>(name: string, type: RecordType, shape: Shape, options: CallOptions | undefined): Promise<T[]> {
    return this.#start(name, recordsAsk(type, shape) as Ask<T[]>, options);
  }

  /**
   * Checks the arguments and starts one query: a name that is not a string throws (node's
   * ERR_INVALID_ARG_TYPE); a bad name or signal rejects. `finish` makes the result from the answer.
   */
  #start<T>(
    name: string,
    ask: Ask<T>,
    options: CallOptions | undefined,
    hostname = name,
    scope: RunScope | undefined = undefined,
  ): Promise<T> {
    const { syscall } = ask;
    // As node: a name that is no string throws at once; what is wrong with a string rejects.
    checkString(name, 'name');
    let call: Call<T>;
    let signal: AbortSignal | undefined;
    try {
      signal = checkSignal(options?.signal);
      const wireName = toWireName(name);
      if (wireName === undefined) throw new DnsError(codes.BADNAME, { syscall, hostname });
      if (isSpecialUse(wireName)) throw new DnsError(codes.NOTFOUND, { syscall, hostname });
      if (signal?.aborted) throw cancelled(syscall, hostname, signal.reason);
      call = new Call(wireName, hostname, ask);
    } catch (err) {
      return Promise.reject(err);
    }
    call.scope = scope;
    // A call of a bulk run flies under the permit the run holds for it.
    return call.launch(this.#launch, scope !== undefined, signal);
  }

  /** Calls from now on go out to the current servers; none rides on a query sent before. */
  #reconfigure(): void {
    const cfg = this.#config;
    const servers = endpointsFor(this.#servers, this.#local);
    this.#config = {
      ...cfg,
      servers,
      limits: limitsFor(cfg.gate, servers, this.#adaptive, cfg.runtime.clock),
    };
    if (this.#lanes !== undefined) this.#lanes = new Map();
    this.#launch = this.#launchOf();
  }

  #launchOf(): Launch {
    const cfg = this.#config;
    let cache: CacheScope | undefined;
    if (this.#cache !== undefined) {
      const store = storeOf(this.#cache);
      cache = { store, set: store.set(cfg.servers.map((s) => s.label).join(',')) };
    }
    return { cfg, registry: this.#calls, deadlineMs: this.#deadline, lanes: this.#lanes, cache };
  }
}
/**
 * The result shape for an rrtype, or node's TypeError: ERR_INVALID_ARG_TYPE for a non-string,
 * ERR_INVALID_ARG_VALUE for a type it does not know (own keys only: `'toString'` is no rrtype).
 */
function shapeOf(rrtype: unknown): (typeof SHAPES)[keyof typeof SHAPES] {
  checkString(rrtype, 'rrtype');
  if (!Object.hasOwn(SHAPES, rrtype))
    throw invalidArgValue(`The argument 'rrtype' is invalid. Received '${rrtype}'`);
  return SHAPES[rrtype as keyof typeof SHAPES];
}

function firstOf<T>(list: T[]): T {
  return list[0]!;
}

function cancelled(syscall: string, hostname: string, reason: unknown): DnsError {
  return new DnsError(codes.CANCELLED, { syscall, hostname, cause: reason });
}
