// The public surface of `dnsgate/testing`: a loopback nameserver, its zone-file reader, and the
// scripted faults (scenarios, malformed and mismatched replies) that tests drive it with.
export { FakeClock } from './clock.js';
export {
  type Action,
  answer,
  badIdThenGood,
  beforeGood,
  delay,
  drop,
  dropFirst,
  duplicate,
  emptyThenGood,
  type From,
  fromOtherAddressThenGood,
  fromOtherPortThenGood,
  garbageThenGood,
  jitter,
  type Make,
  malformedThenGood,
  overlongRdataThenGood,
  pointerLoopThenGood,
  type QueryContext,
  queryBitThenGood,
  raw,
  rcode,
  runScript,
  type Script,
  type Step,
  type StepContext,
  seeded,
  silent,
  type ThenGoodOptions,
  trailingJunkThenGood,
  truncatedRecordThenGood,
  wrongClassThenGood,
  wrongQuestionThenGood,
  wrongTypeThenGood,
} from './faults.js';
export {
  chainOfHops,
  forgedAnswer,
  type MalformedKind,
  malformed,
  mismatched,
  RCODE,
  type RcodeName,
  withId,
} from './reply.js';
export { seedZoneFile } from './seed.js';
export {
  type HandlerResult,
  startTestServer,
  type TestServer,
  type TestServerOptions,
  type TestServerStats,
} from './server.js';
export { parseZone } from './zone.js';
