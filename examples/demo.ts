// The seed's program (Twisted's DeferredSemaphore post), with dnsgate, against the built-in test server.
import { fileURLToPath } from 'node:url';
import { Resolver, semMap, sharedSemaphore } from '../src/index.js';
import { startTestServer } from '../src/testing/index.js';

const zoneFile = fileURLToPath(new URL('../fixtures/zones/seed.zone', import.meta.url));
// Hold each reply 20 ms, as a real network would, so the gate has something to do.
const server = await startTestServer({ zoneFile, delayMs: 20 });

const domains = ['google.com', 'yahoo.com', 'microsoft.com', 'facebook.com', 'twitter.com'];

// The seed's getSemaphore(): one application-wide gate of 2.
sharedSemaphore().limit = 2;
const resolver = new Resolver({ servers: [server.server] });

const results = await semMap((domain: string) => resolver.resolveMx(domain), domains);

for (const [i, [ok, value]] of results.entries()) {
  if (!ok) {
    console.error(`${domains[i]}: ${(value as Error).message}`);
    continue;
  }
  for (const mx of value.sort((a, b) => a.priority - b.priority)) {
    console.log(`${domains[i]!.padEnd(15)} ${mx.exchange}`);
  }
}
console.log(`peak in flight at the server: ${server.stats.peakInFlight} (gate: ${sharedSemaphore().limit})`);
await server.close();
