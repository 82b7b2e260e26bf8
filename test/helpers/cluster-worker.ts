// One worker of the cluster tests (test/redis-cluster.test.ts), run as its own process: it joins
// the cluster-wide gate, looks up its share of the bulk zone's MX names through the router, and
// prints one JSON line per 250 lookups done ({"done":N}) and one at the end ({"result":...}).
// Argument: a JSON object (see Job).
import { Resolver } from '../../src/index.js';
import { createRedisGate } from '../../src/redis/index.js';
import { bulkName } from './bulk-zone.js';

interface Job {
  url: string;
  key: string;
  limit: number;
  leaseMs: number;
  server: string;
  from: number;
  to: number;
  whenUnreachable?: 'share' | 'wait';
  rate?: number;
}

const job = JSON.parse(process.argv[2]!) as Job;
const gate = await createRedisGate({
  url: job.url,
  key: job.key,
  limit: job.limit,
  leaseMs: job.leaseMs,
  whenUnreachable: job.whenUnreachable,
  rate: job.rate,
});
console.log(JSON.stringify({ id: gate.view.id }));
const resolver = new Resolver({ servers: [job.server], semaphore: gate, coalesce: false });
let done = 0;
let lost = 0;
let wrong = 0;
const errors: string[] = [];
await Promise.all(
  Array.from({ length: job.to - job.from }, async (_, k) => {
    const name = bulkName(job.from + k);
    try {
      const mx = await resolver.resolveMx(name);
      if (mx.length !== 1 || mx[0]!.exchange !== `mx1.${name}`) wrong++;
    } catch (err) {
      lost++;
      if (errors.length < 5) errors.push(String(err));
    }
    if (++done % 250 === 0) console.log(JSON.stringify({ done, seen: gate.view.processes }));
  }),
);
const view = gate.view;
await gate.close();
console.log(
  JSON.stringify({
    result: {
      done,
      lost,
      wrong,
      errors,
      calls: view.calls,
      lastError: view.lastError?.message,
      sent: resolver.stats.sent,
    },
  }),
);
