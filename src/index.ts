// Public surface only.
export { codes, DnsError, type DnsErrorCode, type DnsErrorInit } from './errors.js';
export type { MxRecord } from './records.js';
export {
  type CallOptions,
  type DnsMessage,
  type MessageFlags,
  Resolver,
  type ResolverOptions,
} from './resolver.js';
export { DEFAULT_SHARED_LIMIT, Semaphore, type Settled, semMap, sharedSemaphore } from './semaphore.js';
export type { Answer, Question, RecordType } from './wire/codec.js';
