// Runs the built-in test server in its own process (so it does not share the client's thread)
// and prints its `host:port` on the first line of stdout. Stops on SIGTERM or when stdin closes.
import { fileURLToPath } from 'node:url';
import { startTestServer } from '../../src/testing/index.js';

const zoneFile = fileURLToPath(new URL(process.argv[2] ?? '../../fixtures/zones/seed.zone', import.meta.url));
// bulk.test: 3,000 names with an MX each, for the bulk bench's run with default options.
const bulk = ['$ORIGIN bulk.test.', '@ 3600 IN SOA ns hm 1 2 3 4 60', '@ 3600 IN NS ns'];
for (let i = 0; i < 3000; i++) bulk.push(`d${i} 3600 IN MX 10 mx${i % 10}`);
const server = await startTestServer({ zoneFile, zone: bulk.join('\n') });
console.log(server.server);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
