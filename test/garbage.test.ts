// Bad datagrams from the right server: each malformed kind, sent just before the real answer, must be
// passed over without costing a try; sent alone, it must end the query with an error, never a throw.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Resolver } from '../src/index.js';
import {
  beforeGood,
  chainOfHops,
  type Make,
  type MalformedKind,
  malformed,
  raw,
  startTestServer,
  withId,
} from '../src/testing/index.js';
import type { Packet } from '../src/wire/codec.js';

const ZONE = '$ORIGIN example.test.\n@ SOA ns hm 1 2 3 4 60\n@ MX 10 mx1\n@ MX 20 mx2\n';
const REAL = ['mx1.example.test', 'mx2.example.test'];

/** Whether the client must skip a kind (it does not answer the query) or count it malformed. */
type Verdict = 'skipped' | 'malformed';

// What the acceptance path should say of each kind built from the live answer.
const SKIPPED = new Set<MalformedKind>(['garbage', 'empty', 'shortHeader']);
const built: Array<[string, Verdict, Make]> = (Object.keys(malformed) as MalformedKind[]).map((kind) => [
  kind,
  SKIPPED.has(kind) ? 'skipped' : 'malformed',
  malformed[kind],
]);

// Hand-written fixtures (fixtures/malformed/README.md): hex with `#` comments, ID 0 patched on send.
const dir = fileURLToPath(new URL('../fixtures/malformed/', import.meta.url));
const fixtures: Array<[string, Verdict, Make]> = readdirSync(dir)
  .filter((file) => file.endsWith('.hex'))
  .sort()
  .map((file) => {
    const text = readFileSync(dir + file, 'utf8');
    const verdict = /^# expect: (skipped|malformed)$/m.exec(text)?.[1] as Verdict | undefined;
    if (!verdict) throw new Error(`${file}: no "# expect:" line`);
    const bytes = Buffer.from(text.replace(/#.*$/gm, '').replace(/\s+/g, ''), 'hex');
    return [file, verdict, (_: Buffer, query: Packet) => withId(bytes, query.id!)];
  });

const cases = [...built, ...fixtures];

async function run(make: Make, lead: boolean, tries: number, timeout: number) {
  const server = await startTestServer({ zone: ZONE, script: lead ? beforeGood(make) : raw(make) });
  const resolver = new Resolver({ servers: [server.server], tries, timeout });
  const outcome = await resolver.resolveMx('example.test').then(
    (mx) => ({ exchanges: mx.map((m) => m.exchange).sort(), code: undefined }),
    (err: { code?: string }) => ({ exchanges: undefined, code: err.code }),
  );
  await server.close();
  return { ...outcome, stats: resolver.stats, queries: server.stats.queries, errors: server.errors };
}

describe('a bad datagram, then the real answer', () => {
  it.each(cases)('%s: the real answer, no extra try, counted %s', async (_, verdict, make) => {
    const { exchanges, code, stats, queries, errors } = await run(make, true, 3, 200);
    expect(code).toBeUndefined();
    expect(exchanges).toEqual(REAL);
    expect(queries).toBe(1);
    expect(stats).toMatchObject({ sent: 1, answers: 1, [verdict]: 1 });
    expect(stats.skipped + stats.malformed).toBe(1);
    expect(errors).toEqual([]);
  });
});

describe('only bad datagrams', () => {
  const tries = 2;
  // A bad datagram, skipped or malformed, is as good as silence: every try times out (c-ares
  // ignores such replies too), and the server is asked `tries` times.
  it.each(cases)('%s (%s): ETIMEOUT after every try, never a throw', async (_, verdict, make) => {
    const { exchanges, code, stats, queries } = await run(make, false, tries, 50);
    expect(exchanges).toBeUndefined();
    expect(code).toBe('ETIMEOUT');
    expect(queries).toBe(tries);
    expect(stats).toMatchObject({ sent: tries, answers: 0, [verdict]: tries, timeouts: tries });
  });

  it('128 pointer hops is still a name: the control for pointerChain129', async () => {
    const { exchanges, stats } = await run(chainOfHops(128), false, 1, 200);
    expect(exchanges).toEqual(REAL);
    expect(stats).toMatchObject({ answers: 1, malformed: 0 });
  });
});

it('covers every kind the brief names', () => {
  console.log(
    `garbage: malformed kinds tried ${cases.length} (${built.length} built, ${fixtures.length} fixtures)`,
  );
  expect(built.map(([kind]) => kind)).toEqual(
    expect.arrayContaining([
      'garbage',
      'empty',
      'shortHeader', // the 11-byte datagram
      'truncatedRecord',
      'overlongRdata',
      'aRdlength16',
      'impossibleCount',
      'trailingJunk',
      'forwardPointer',
      'pointerLoop',
      'pointerChain129',
      'nameOver255',
    ]),
  );
  expect(fixtures.length).toBeGreaterThanOrEqual(7);
});
