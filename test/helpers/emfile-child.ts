// Run by test/emfile.test.ts in a child process under `ulimit -n 64`: a gate of 200 is far more
// sockets than the process may open. Every query must still settle, as an answer or a DnsError
// (EMFILE surfaces as ECONNREFUSED, as in c-ares), the process must not crash, and once the flood
// is over a resolver with a sane gate must work. Prints one JSON summary line on stdout.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DnsError } from '../../src/errors.js';
import { Resolver } from '../../src/resolver.js';
import { startTestServer } from '../../src/testing/server.js';

const zoneFile = fileURLToPath(new URL('../../fixtures/zones/seed.zone', import.meta.url));
/** Open fds, or -1 when even listing them needs one more than the limit allows. */
const fds = () => {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether an error, or any error it carries (cause, per-server errors), is an EMFILE. */
function sawEmfile(err: unknown, depth = 0): boolean {
  if (depth > 5 || typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown[] };
  if (e.code === 'EMFILE') return true;
  return sawEmfile(e.cause, depth + 1) || (e.errors ?? []).some((x) => sawEmfile(x, depth + 1));
}

/** What one burst of queries came to (the parent test reads these from the child's JSON). */
export interface Tally {
  total: number;
  settledOnce: boolean;
  ok: number;
  failed: Record<string, number>;
  notDnsError: string[];
  emfile: number;
}

async function flood(resolver: Resolver, count: number): Promise<Tally> {
  const settles = new Uint8Array(count);
  const tally: Tally = { total: count, settledOnce: false, ok: 0, failed: {}, notDnsError: [], emfile: 0 };
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      resolver.resolveMx('google.com').then(
        () => {
          settles[i]!++;
          tally.ok++;
        },
        (err: unknown) => {
          settles[i]!++;
          if (!(err instanceof DnsError)) {
            tally.notDnsError.push(String((err as Error)?.stack ?? err));
            return;
          }
          tally.failed[err.code] = (tally.failed[err.code] ?? 0) + 1;
          if (sawEmfile(err)) tally.emfile++;
        },
      ),
    ),
  );
  await sleep(10);
  tally.settledOnce = settles.every((n) => n === 1);
  return tally;
}

const fdLimitProbe = fds();
const server = await startTestServer({ zoneFile, delayMs: 50 });
const fdsBefore = fds();

const big = new Resolver({
  servers: [server.server],
  concurrency: 200,
  // A socket per query in flight, so that 200 in flight need far more descriptors than 64 (with
  // several queries per socket, 200 fit in 25).
  queriesPerSocket: 1,
  timeout: 1000,
  tries: 2,
  coalesce: false,
});
const started = performance.now();
const flooded = await flood(big, 400);
const floodMs = Math.round(performance.now() - started);
const bigGate = { tokens: big.semaphore.tokens, waiting: big.semaphore.waiting, limit: big.semaphore.limit };
const fdsAfterFlood = fds();

// Right after, the flood's idle sockets (kept for reuse by the 200-permit gate's pool) fill the fd
// table: the first EMFILE makes every pool close its idle sockets, and the try is repeated.
const sane = new Resolver({ servers: [server.server], concurrency: 8, timeout: 1000, tries: 2 });
const rightAfter = await flood(sane, 100);

// The flooded resolver itself answers again, asked for fewer sockets than the limit allows.
const recovered = await flood(big, 30);

// Once idle sockets are swept (2 s idle, on a 2 s sweep), a sane gate gets every answer.
await sleep(4500);
const fdsAfterIdle = fds();
const later = await flood(
  new Resolver({ servers: [server.server], concurrency: 8, timeout: 1000, tries: 2 }),
  100,
);

await server.close();
console.log(
  JSON.stringify({
    fds: { atStart: fdLimitProbe, withServer: fdsBefore, afterFlood: fdsAfterFlood, afterIdle: fdsAfterIdle },
    flood: { ...flooded, ms: floodMs, gate: bigGate },
    rightAfter,
    recovered,
    later,
    serverQueries: server.stats.queries,
  }),
);
