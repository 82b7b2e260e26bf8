// One process of `npm run bench:redis`: waits until `startAt` (epoch ms), then resolves `queries`
// MX lookups of the bulk zone, `depth` at a time from its own list, under a cluster-wide gate
// (mode "cluster") or a local one of `concurrency` (mode "local"), and prints
// {"startedAt","endedAt","calls"} on one line.
import { Resolver } from '../../src/index.js';
import { createRedisGate } from '../../src/redis/index.js';
import { bulkName } from '../helpers/bulk-zone.js';

const job = JSON.parse(process.argv[2]!) as {
  mode: 'cluster' | 'local';
  url: string;
  key: string;
  limit: number;
  concurrency: number;
  server: string;
  queries: number;
  names: number;
  startAt: number;
};
const gate =
  job.mode === 'cluster'
    ? await createRedisGate({ url: job.url, key: job.key, limit: job.limit })
    : undefined;
const resolver = new Resolver({
  servers: [job.server],
  ...(gate === undefined ? { concurrency: job.concurrency } : { semaphore: gate }),
  adaptive: false,
  coalesce: false,
});
// A warm-up of this process's code paths, then the start all processes share.
await Promise.all(Array.from({ length: 200 }, (_, i) => resolver.resolveMx(bulkName(i % job.names))));
while (Date.now() < job.startAt) await new Promise((r) => setTimeout(r, 1));
const startedAt = Date.now();
let next = 0;
let lost = 0;
// As many callers as the whole budget: the gate, not the caller, sets what is in flight.
await Promise.all(
  Array.from({ length: job.limit }, async () => {
    while (next < job.queries) {
      const i = next++;
      try {
        await resolver.resolveMx(bulkName(i % job.names));
      } catch {
        lost++;
      }
    }
  }),
);
const endedAt = Date.now();
const calls = gate?.view.calls ?? 0;
await gate?.close();
console.log(JSON.stringify({ startedAt, endedAt, calls, lost }));
