// The public surface of `dnsgate/testing`: a loopback nameserver and its zone-file reader.
export {
  type HandlerResult,
  type QueryContext,
  startTestServer,
  type TestServer,
  type TestServerOptions,
  type TestServerStats,
} from './server.js';
export { parseZone } from './zone.js';
