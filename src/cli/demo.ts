// The seed's program (Twisted's DeferredSemaphore post) with dnsgate, against the built-in
// test server on loopback: `npm run demo` and `dnsgate demo`.

import { semMap, sharedSemaphore } from '../gate/shared.js';
import { Resolver } from '../resolver.js';
import { seedZoneFile } from '../testing/seed.js';
import { startTestServer } from '../testing/server.js';

/** The five domains of the seed post. */
export const SEED_DOMAINS = ['google.com', 'yahoo.com', 'microsoft.com', 'facebook.com', 'twitter.com'];

/** Runs the seed's job and writes its lines; resolves to the peak in flight the server saw. */
export async function runDemo(write: (line: string) => void): Promise<number> {
  // Hold each reply 20 ms, as a real network would, so the gate has something to do.
  const server = await startTestServer({ zoneFile: seedZoneFile, delayMs: 20 });
  try {
    // The seed's getSemaphore(): one application-wide gate of 2.
    sharedSemaphore().limit = 2;
    const resolver = new Resolver({ servers: [server.server] });
    const results = await semMap((domain: string) => resolver.resolveMx(domain), SEED_DOMAINS);
    for (const [i, [ok, value]] of results.entries()) {
      const domain = SEED_DOMAINS[i]!;
      if (!ok) {
        write(`${domain.padEnd(15)} error ${(value as { code?: string }).code ?? String(value)}`);
        continue;
      }
      for (const mx of value.sort((a, b) => a.priority - b.priority))
        write(`${domain.padEnd(15)} ${mx.exchange}`);
    }
    write(`peak in flight at the server: ${server.stats.peakInFlight} (gate: ${sharedSemaphore().limit})`);
    return server.stats.peakInFlight;
  } finally {
    await server.close();
  }
}
