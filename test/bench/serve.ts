// Runs the built-in test server in its own process (so it does not share the client's thread)
// and prints its `host:port` on the first line of stdout. Stops on SIGTERM or when stdin closes.
import { fileURLToPath } from 'node:url';
import { startTestServer } from '../../src/testing/index.js';

const zoneFile = fileURLToPath(new URL(process.argv[2] ?? '../../fixtures/zones/seed.zone', import.meta.url));
const server = await startTestServer({ zoneFile });
console.log(server.server);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
