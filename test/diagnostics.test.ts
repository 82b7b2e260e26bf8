// The diagnostics channels, against the test server's scripted faults: what a subscriber sees
// for each start, send, skipped message, attempt's end, call's end and wait for a permit.

import { createSocket } from 'node:dgram';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { Resolver } from '../src/index.js';
import {
  badIdThenGood,
  delay,
  malformedThenGood,
  rcode,
  silent,
  startTestServer,
  type TestServer,
} from '../src/testing/index.js';
import { LONG, ZONE } from './helpers/example-zone.js';

const CHANNELS = [
  'dnsgate:query:start',
  'dnsgate:query:send',
  'dnsgate:query:skip',
  'dnsgate:query:outcome',
  'dnsgate:query:end',
  'dnsgate:gate:wait',
] as const;

type Event = { channel: string } & Record<string, unknown>;

/** Subscribes to every channel; returns the events seen, in order, and a function to stop. */
function record(): { events: Event[]; stop: () => void } {
  const events: Event[] = [];
  const handlers = CHANNELS.map((name) => {
    const handler = (message: unknown) =>
      events.push({ channel: name.slice('dnsgate:'.length), ...(message as object) });
    subscribe(name, handler);
    return [name, handler] as const;
  });
  const stop = () => {
    for (const [name, h] of handlers) unsubscribe(name, h);
  };
  return { events, stop };
}

const servers: TestServer[] = [];
let stopRecording: (() => void) | undefined;
afterEach(async () => {
  stopRecording?.();
  stopRecording = undefined;
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setup(options: Parameters<typeof startTestServer>[0] = {}) {
  const server = await startTestServer({ zone: ZONE, ...options });
  servers.push(server);
  const rec = record();
  stopRecording = rec.stop;
  return { server, events: rec.events };
}

const only = (events: Event[], channel: string) => events.filter((e) => e.channel === channel);

describe.each([
  { family: 'IPv4', address: '127.0.0.1' },
  { family: 'IPv6', address: '::1' },
])('diagnostics_channel over $family', ({ address }) => {
  it('an answer: start, send, outcome, end, in that order', async () => {
    const { server, events } = await setup({ address });
    const r = new Resolver({ servers: [server.server] });
    await r.resolveMx('EXAMPLE.test');
    expect(events.map((e) => e.channel)).toEqual(['query:start', 'query:send', 'query:outcome', 'query:end']);
    expect(events[0]).toEqual({ channel: 'query:start', name: 'example.test', type: 'MX' });
    expect(events[1]).toEqual({
      channel: 'query:send',
      name: 'example.test',
      type: 'MX',
      server: server.server,
      transport: 'udp',
      attempt: 1,
    });
    expect(events[2]).toMatchObject({
      outcome: 'answer',
      rcode: 'NOERROR',
      attempt: 1,
      server: server.server,
    });
    expect(events[2]!.ms).toBeGreaterThanOrEqual(0);
    expect(events[3]).toMatchObject({ channel: 'query:end', name: 'example.test', ok: true });
    expect(events[3]!.code).toBeUndefined();
  });

  it('a forged reply (wrong ID) is published as a skip, and the wait goes on', async () => {
    const { server, events } = await setup({ address, script: badIdThenGood() });
    await new Resolver({ servers: [server.server] }).resolveMx('example.test');
    expect(only(events, 'query:skip')).toEqual([
      { channel: 'query:skip', name: 'example.test', type: 'MX', server: server.server, reason: 'id' },
    ]);
    expect(only(events, 'query:outcome')).toMatchObject([{ outcome: 'answer' }]);
  });

  it('a malformed reply is published as a skip with reason malformed', async () => {
    const { server, events } = await setup({ address, script: malformedThenGood('trailingJunk') });
    await new Resolver({ servers: [server.server] }).resolveMx('example.test');
    expect(only(events, 'query:skip')).toMatchObject([{ reason: 'malformed' }]);
  });

  it('a truncated answer: outcome truncated over UDP, then a send and an answer over TCP', async () => {
    const { server, events } = await setup({ address });
    await new Resolver({ servers: [server.server], edns: 512 }).resolveTxt('long.example.test');
    const tries = events.filter((e) => e.channel === 'query:send' || e.channel === 'query:outcome');
    expect(tries).toMatchObject([
      { channel: 'query:send', transport: 'udp', attempt: 1 },
      { channel: 'query:outcome', transport: 'udp', attempt: 1, outcome: 'truncated' },
      { channel: 'query:send', transport: 'tcp', attempt: 2 },
      { channel: 'query:outcome', transport: 'tcp', attempt: 2, outcome: 'answer', rcode: 'NOERROR' },
    ]);
  });

  it('silence: a timeout outcome per try, and an end that failed with ETIMEOUT', async () => {
    const { server, events } = await setup({ address, script: silent() });
    const r = new Resolver({ servers: [server.server], timeout: 30, tries: 2 });
    await expect(r.resolveMx('example.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });
    expect(only(events, 'query:outcome')).toMatchObject([
      { outcome: 'timeout', attempt: 1 },
      { outcome: 'timeout', attempt: 2 },
    ]);
    expect(only(events, 'query:end')).toMatchObject([{ ok: false, code: 'ETIMEOUT' }]);
  });

  it('SERVFAIL then the next server: the rcode on the outcome, the next server answers', async () => {
    const { server: bad, events } = await setup({ address, script: rcode('SERVFAIL') });
    const good = await startTestServer({ zone: ZONE, address });
    servers.push(good);
    await new Resolver({ servers: [bad.server, good.server] }).resolveMx('example.test');
    expect(only(events, 'query:outcome')).toMatchObject([
      { server: bad.server, outcome: 'answer', rcode: 'SERVFAIL', attempt: 1 },
      { server: good.server, outcome: 'answer', rcode: 'NOERROR', attempt: 2 },
    ]);
    expect(only(events, 'query:end')).toMatchObject([{ ok: true }]);
  });

  it('a closed port: outcome refused', async () => {
    const { events } = await setup({ address });
    // A port nobody listens on: bind one, note it, close it.
    const probe = createSocket(address === '::1' ? 'udp6' : 'udp4');
    await new Promise<void>((resolve) => probe.bind(0, address, resolve));
    const port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const target = address === '::1' ? `[::1]:${port}` : `127.0.0.1:${port}`;
    await expect(
      new Resolver({ servers: [target], timeout: 500 }).resolveMx('example.test'),
    ).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    expect(only(events, 'query:outcome')).toMatchObject([{ outcome: 'refused', server: target }]);
  });
});

describe('diagnostics_channel: calls and the gate', () => {
  it('callers riding on a query in flight: one start and one send, an end per call', async () => {
    const { server, events } = await setup({ script: delay(20) });
    const r = new Resolver({ servers: [server.server] });
    await Promise.all([
      r.resolveMx('example.test'),
      r.resolveMx('example.test'),
      r.resolveMx('example.test'),
    ]);
    expect(only(events, 'query:start')).toHaveLength(1);
    expect(only(events, 'query:send')).toHaveLength(1);
    expect(only(events, 'query:end')).toHaveLength(3);
  });

  it('a wait for a permit: gate:wait with the limit, who still waits, and how long', async () => {
    const { server, events } = await setup({ script: delay(20) });
    const r = new Resolver({ servers: [server.server], concurrency: 1, coalesce: false });
    await Promise.all([1, 2, 3].map(() => r.resolveMx('example.test')));
    const waits = only(events, 'gate:wait');
    expect(waits).toMatchObject([
      { limit: 1, waiting: 1 },
      { limit: 1, waiting: 0 },
    ]);
    for (const w of waits) expect(w.ms).toBeGreaterThanOrEqual(15);
  });

  it('a cancelled call ends once, with ECANCELLED', async () => {
    const { server, events } = await setup({ script: delay(50) });
    const r = new Resolver({ servers: [server.server] });
    const pending = r.resolveMx('example.test');
    r.cancel();
    await expect(pending).rejects.toMatchObject({ code: 'ECANCELLED' });
    expect(only(events, 'query:end')).toMatchObject([{ ok: false, code: 'ECANCELLED' }]);
  });
});

// A subscriber runs synchronously inside the query path: one that gives up on a call from there
// must leave everything as a give-up anywhere else does.
describe('diagnostics_channel: a subscriber that gives up', () => {
  it('on gate:wait: the call rejects once, sends nothing, and its name can be asked again', async () => {
    const { server } = await setup({ script: delay(20) });
    const r = new Resolver({ servers: [server.server], concurrency: 1 });
    const giveUp = new AbortController();
    const onWait = () => giveUp.abort();
    subscribe('dnsgate:gate:wait', onWait);
    try {
      const first = r.resolveMx('example.test');
      const second = r.resolveTxt('long.example.test', { signal: giveUp.signal });
      await expect(second).rejects.toMatchObject({ code: 'ECANCELLED' });
      await first;
    } finally {
      unsubscribe('dnsgate:gate:wait', onWait);
    }
    expect(server.stats.queries).toBe(1);
    // Not left behind in the coalescing table: a new call for the name flies and is answered.
    expect((await r.resolveTxt('long.example.test')).flat().join('')).toBe(LONG.join(''));
    expect(r.semaphore.tokens).toBe(1);
  });

  it.each(['fallback', 'always'] as const)(
    'on query:outcome (tcp %s): no further try goes out, the call rejects once, the permit comes back',
    async (tcp) => {
      const { server: bad } = await setup({ script: rcode('SERVFAIL') });
      const good = await startTestServer({ zone: ZONE });
      servers.push(good);
      const r = new Resolver({ servers: [bad.server, good.server], concurrency: 1, tcp });
      const giveUp = new AbortController();
      const onOutcome = () => giveUp.abort();
      subscribe('dnsgate:query:outcome', onOutcome);
      let settled = 0;
      try {
        await r.resolveMx('example.test', { signal: giveUp.signal }).then(
          () => settled++,
          (e: { code: string }) => {
            settled++;
            expect(e.code).toBe('ECANCELLED');
          },
        );
      } finally {
        unsubscribe('dnsgate:query:outcome', onOutcome);
      }
      await new Promise((res) => setTimeout(res, 30));
      expect(settled).toBe(1);
      expect(good.stats.queries).toBe(0);
      await new Promise((res) => setImmediate(res));
      expect(r.semaphore.tokens).toBe(1);
    },
  );

  it('on query:end of a leader, giving up its riders: each settles once, and cancel() still reaches every other call', async () => {
    // MX answered after 20 ms; TXT after a second (the call that must still be pending).
    const { server } = await setup({
      handler: async (q) => {
        await new Promise((res) => setTimeout(res, q.questions?.[0]?.type === 'TXT' ? 1000 : 20));
        return undefined;
      },
    });
    const r = new Resolver({ servers: [server.server] });
    const ridersGiveUp = new AbortController();
    let ends = 0;
    const onEnd = (m: unknown) => {
      if ((m as { name: string }).name !== 'example.test') return;
      ends++;
      ridersGiveUp.abort();
    };
    // Another call pending all along: cancel() must still find it afterwards.
    const other = r.resolveTxt('long.example.test').catch((e: { code: string }) => e.code);
    subscribe('dnsgate:query:end', onEnd);
    const outcomes: string[] = [];
    try {
      const leader = r.resolveMx('example.test');
      const riders = [1, 2].map(() => r.resolveMx('example.test', { signal: ridersGiveUp.signal }));
      await Promise.all(
        [leader, ...riders].map((p) =>
          p.then(
            () => outcomes.push('ok'),
            (e: { code: string }) => outcomes.push(e.code),
          ),
        ),
      );
    } finally {
      unsubscribe('dnsgate:query:end', onEnd);
    }
    expect(outcomes.sort()).toEqual(['ECANCELLED', 'ECANCELLED', 'ok']);
    expect(ends).toBe(3);
    r.cancel();
    expect(await other).toBe('ECANCELLED');
  });

  it('on query:start: nothing is sent and no permit is held', async () => {
    const { server } = await setup();
    const r = new Resolver({ servers: [server.server], concurrency: 1 });
    const giveUp = new AbortController();
    const onStart = () => giveUp.abort();
    subscribe('dnsgate:query:start', onStart);
    try {
      await expect(r.resolveMx('example.test', { signal: giveUp.signal })).rejects.toMatchObject({
        code: 'ECANCELLED',
      });
    } finally {
      unsubscribe('dnsgate:query:start', onStart);
    }
    await new Promise((res) => setTimeout(res, 20));
    expect(server.stats.queries).toBe(0);
    expect(r.semaphore.tokens).toBe(1);
  });
});
