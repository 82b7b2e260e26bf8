// Public surface only.

export type { BulkResult, BulkRun, Progress, ResolveEachOptions } from './bulk/each.js';
export type {
  CacheHitMessage,
  CacheMissMessage,
  GateLimitMessage,
  GateWaitMessage,
  QueryEndMessage,
  QueryOutcomeMessage,
  QuerySendMessage,
  QuerySkipMessage,
  QueryStartMessage,
} from './diagnostics.js';
export type { Gate, TcpMode } from './dispatch/config.js';
export { codes, DnsError, type DnsErrorCode, type DnsErrorInit } from './errors.js';
export type { AdaptiveOptions, LimitView } from './gate/adaptive.js';
export { Semaphore, type Settled } from './gate/semaphore.js';
export { DEFAULT_SHARED_LIMIT, semMap, sharedSemaphore } from './gate/shared.js';
export { type CacheOptions, DnsCache } from './lookup/cache.js';
export type { MailHosts } from './mail.js';
export type { ResolverOptions } from './options.js';
export { Resolver } from './resolver.js';
export type { Clock, ClockTimer, RuntimeOptions } from './runtime.js';
export type {
  AnyRecord,
  CaaRecord,
  CallOptions,
  DnsMessage,
  MessageFlags,
  MxRecord,
  NaptrRecord,
  RecordWithTtl,
  ResolverStats,
  ResultByType,
  SoaRecord,
  SrvRecord,
  TtlOptions,
} from './types.js';
export type { Answer, Question, RecordType } from './wire/types.js';
