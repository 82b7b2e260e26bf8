// A zone of numbered names (`n0.ORIGIN` ... with an A record each) for transport tests, and a
// wait for what real sockets report in their own time.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach } from 'vitest';
import { startTestServer, type TestServer, type TestServerOptions } from '../../src/testing/index.js';

/** `count` names under `origin`, each with one A record: the zone text, the i-th name and its answer. */
export function numberedZone(origin: string, count = 64) {
  return {
    zone: [
      `$ORIGIN ${origin}.`,
      '@ SOA ns hm 1 2 3 4 60',
      ...Array.from({ length: count }, (_, i) => `n${i} A 192.0.2.${i}`),
    ].join('\n'),
    name: (i: number) => `n${i % count}.${origin}`,
    address: (i: number) => [`192.0.2.${i % count}`],
  };
}

/** Waits (a real few ms at a time) until `done()` holds: socket closes and server events are real I/O. */
export async function until(done: () => boolean, ms = 2000): Promise<void> {
  for (const end = Date.now() + ms; !done(); ) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(5);
  }
}

/**
 * Test servers on `host` answering `zone`, each closed after its test: call inside a `describe`
 * (it registers the `afterEach`); `serve(options)` starts one.
 */
export function serversFor(host: string, zone: string): (options?: TestServerOptions) => Promise<TestServer> {
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return async (options = {}) => {
    const s = await startTestServer({ zone, address: host, ...options });
    servers.push(s);
    return s;
  };
}
