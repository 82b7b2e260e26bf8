// What the query path tells observers, on node:diagnostics_channel. A message is built only when
// someone subscribes (`hasSubscribers`): without a subscriber an event costs one property read.
import { channel } from 'node:diagnostics_channel';

/**
 * `dnsgate:query:start`: a call starts a query of its own (a call that rides on a query already
 * in flight for the same question publishes nothing more).
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * subscribe('dnsgate:query:start', (m) => console.log((m as QueryStartMessage).name));
 * ```
 */
export interface QueryStartMessage {
  name: string;
  type: string;
}

/**
 * `dnsgate:query:send`: one datagram or TCP message sent. `attempt` counts from 1 within the call;
 * a retransmission (the adaptive gate found the try overdue and sent the same datagram again, same
 * socket and ID) is published again with the same `attempt`.
 *
 * @example
 * ```ts
 * subscribe('dnsgate:query:send', (m) => {
 *   const { server, transport, attempt } = m as QuerySendMessage;
 * });
 * ```
 */
export interface QuerySendMessage {
  name: string;
  type: string;
  /** `host:port` (`[v6]:port`). */
  server: string;
  transport: 'udp' | 'tcp';
  attempt: number;
}

/**
 * `dnsgate:query:skip`: a message that arrived for the query and was refused; the wait goes on.
 * `reason`: `'id'`, `'not-response'`, `'opcode'`, `'question-count'`, `'question'`, `'short'` (forged or stray), `'oversize'`, or
 * `'malformed'`.
 *
 * @example
 * ```ts
 * subscribe('dnsgate:query:skip', (m) => console.warn('skipped', (m as QuerySkipMessage).reason));
 * ```
 */
export interface QuerySkipMessage {
  name: string;
  type: string;
  server: string;
  reason: string;
}

/**
 * `dnsgate:query:outcome`: how one attempt ended. `outcome`: `'answer'` (a response, its `rcode`
 * given), `'truncated'` (TC set: asked again over TCP), `'timeout'`, `'refused'` (ICMP port
 * unreachable or TCP connection refused) or `'error'` (another socket error). `ms` is the
 * attempt's round trip.
 *
 * @example
 * ```ts
 * subscribe('dnsgate:query:outcome', (m) => {
 *   const { server, outcome, rcode, ms } = m as QueryOutcomeMessage;
 * });
 * ```
 */
export interface QueryOutcomeMessage {
  name: string;
  type: string;
  server: string;
  transport: 'udp' | 'tcp';
  attempt: number;
  outcome: 'answer' | 'truncated' | 'timeout' | 'refused' | 'error';
  /** `'NOERROR'`, `'NXDOMAIN'`, `'SERVFAIL'`, ... when a response came. */
  rcode?: string;
  ms: number;
}

/**
 * `dnsgate:query:end`: a call settled, once per call (riders included). `code`: the DnsError code
 * when it failed.
 *
 * @example
 * ```ts
 * subscribe('dnsgate:query:end', (m) => {
 *   const { name, ok, code, ms } = m as QueryEndMessage;
 * });
 * ```
 */
export interface QueryEndMessage {
  name: string;
  type: string;
  ok: boolean;
  code?: string;
  ms: number;
}

/**
 * `dnsgate:gate:wait`: a query waited `ms` for a permit; `limit` is the gate's limit and
 * `waiting` how many still wait after it.
 *
 * @example
 * ```ts
 * subscribe('dnsgate:gate:wait', (m) => {
 *   const { limit, waiting, ms } = m as GateWaitMessage;
 * });
 * ```
 */
export interface GateWaitMessage {
  limit: number;
  waiting: number;
  ms: number;
}

/**
 * `dnsgate:gate:limit`: a server's adaptive limit moved. `reason`: `'grow'` (answers came with
 * the limit reached), `'cut'` (loss: REFUSED for congestion, a timeout, ICMP refused, a try
 * unanswered far past the RTT), `'undo'` (a cut taken back: the tries it was for were answered
 * late, on their first copy) or `'edge-expired'` (the loss edge was forgotten: growth may speed up
 * again).
 *
 * @example
 * ```ts
 * subscribe('dnsgate:gate:limit', (m) => {
 *   const { server, limit, reason } = m as GateLimitMessage;
 * });
 * ```
 */
export interface GateLimitMessage {
  server: string;
  limit: number;
  reason: 'grow' | 'cut' | 'undo' | 'edge-expired';
}

/**
 * `dnsgate:cache:hit`: a call answered from the cache (nothing sent); `negative` for a kept
 * NXDOMAIN or NODATA, `ttl` the seconds it stays.
 *
 * @example
 * ```ts
 * subscribe('dnsgate:cache:hit', (m) => {
 *   const { name, type, negative, ttl } = m as CacheHitMessage;
 * });
 * ```
 */
export interface CacheHitMessage {
  name: string;
  type: string;
  negative: boolean;
  ttl: number;
}

/**
 * `dnsgate:cache:miss`: a call found no answer in the cache; it goes on to the wire (or rides on a
 * query in flight for the same question).
 *
 * @example
 * ```ts
 * subscribe('dnsgate:cache:miss', (m) => console.log('miss', (m as CacheMissMessage).name));
 * ```
 */
export interface CacheMissMessage {
  name: string;
  type: string;
}

/** The channels, by name. */
export const diagnostics = {
  queryStart: channel('dnsgate:query:start'),
  querySend: channel('dnsgate:query:send'),
  querySkip: channel('dnsgate:query:skip'),
  queryOutcome: channel('dnsgate:query:outcome'),
  queryEnd: channel('dnsgate:query:end'),
  gateWait: channel('dnsgate:gate:wait'),
  gateLimit: channel('dnsgate:gate:limit'),
  cacheHit: channel('dnsgate:cache:hit'),
  cacheMiss: channel('dnsgate:cache:miss'),
} as const;
