// Public surface only.

export type { TcpMode } from './dispatcher.js';
export type { BulkResult, BulkRun, Progress, ResolveEachOptions } from './each.js';
export { codes, DnsError, type DnsErrorCode, type DnsErrorInit } from './errors.js';
export type { MailHosts } from './mail.js';
export type { ResolverOptions } from './options.js';
export type {
  AnyRecord,
  CaaRecord,
  MxRecord,
  NaptrRecord,
  RecordWithTtl,
  SoaRecord,
  SrvRecord,
} from './records.js';
export {
  type CallOptions,
  type DnsMessage,
  type MessageFlags,
  Resolver,
  type ResolverStats,
  type ResultByType,
  type TtlOptions,
} from './resolver.js';
export { DEFAULT_SHARED_LIMIT, Semaphore, type Settled, semMap, sharedSemaphore } from './semaphore.js';
export type { Answer, Question, RecordType } from './wire/codec.js';
