// Question: does a forwarder that holds a query answer a copy of it sent again under another ID,
// and which copy first? (The adaptive gate tells a late answer from a drop by the copy's ID: see
// README, "Late, not dropped".) knotd behind a 70 ms line, the forwarder in front; one connected
// socket sends a question under ID 1001 and, 20 ms later, under ID 1002; prints what comes back.
// Run: npx tsx test/bench/copies.ts [dnsmasq|unbound|named|pdns]...
// A manual check, not a test: named and pdns_recursor come from Debian's bind9 and pdns-recursor,
// which CI does not install; a forwarder whose binary is missing is skipped with a note.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePacket } from '../../src/testing/packet.js';
import { binary } from '../helpers/bin.js';
import { BULK_ORIGIN, bulkName, bulkZone } from '../helpers/bulk-zone.js';
import { startDnsmasq } from '../helpers/dnsmasq.js';
import { startKnot } from '../helpers/knot.js';
import { startLine } from '../helpers/relay.js';
import { startUnbound } from '../helpers/unbound.js';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Starts `name` on a loopback port forwarding to `upstream` (127.0.0.1:PORT); returns its port. */
async function start(name: string, upstream: string): Promise<{ port: number; stop(): Promise<void> }> {
  if (name === 'dnsmasq' || name === 'unbound') {
    const d =
      name === 'dnsmasq'
        ? await startDnsmasq({ upstream, forwardMax: 20 })
        : await startUnbound({ upstream, numQueriesPerThread: 16 });
    return { port: Number(d.server.split(':')[1]), stop: () => d.stop() };
  }
  const dir = await mkdtemp(join(tmpdir(), `dnsgate-${name}-`));
  const port = 40_000 + Math.floor(Math.random() * 10_000);
  const upPort = upstream.split(':')[1];
  let child: ChildProcess;
  if (name !== 'named' && name !== 'pdns') throw new Error('unknown: dnsmasq, unbound, named or pdns');
  // The binary's path; throws, naming it, when it is not installed.
  const bin = binary(name === 'named' ? 'named' : 'pdns_recursor');
  if (name === 'named') {
    await writeFile(
      join(dir, 'named.conf'),
      `options { directory "${dir}"; listen-on port ${port} { 127.0.0.1; }; listen-on-v6 { none; }; recursion yes; allow-query { any; }; forwarders { 127.0.0.1 port ${upPort}; }; forward only; dnssec-validation no; pid-file "${dir}/pid"; };\n`,
    );
    child = spawn(bin, ['-g', '-u', 'root', '-c', join(dir, 'named.conf')], { stdio: 'ignore' });
  } else {
    await writeFile(
      join(dir, 'recursor.conf'),
      `local-address=127.0.0.1\nlocal-port=${port}\nforward-zones-recurse=.=127.0.0.1:${upPort}\nsocket-dir=${dir}\ndnssec=off\nquiet=yes\n`,
    );
    child = spawn(bin, [`--config-dir=${dir}`], { stdio: 'ignore' });
  }
  await sleep(2000);
  return {
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await sleep(200);
    },
  };
}

const knot = await startKnot({ zones: { [`${BULK_ORIGIN}.`]: bulkZone(10) } });
const line = await startLine(knot.server, 70);
for (const name of process.argv.length > 2 ? process.argv.slice(2) : ['dnsmasq', 'unbound']) {
  let server: Awaited<ReturnType<typeof start>>;
  try {
    server = await start(name, line.server);
  } catch (err) {
    console.log(`${name}: skipped (${err instanceof Error ? err.message : String(err)})`);
    continue;
  }
  const socket = createSocket('udp4');
  await new Promise<void>((done) => socket.connect(server.port, '127.0.0.1', () => done()));
  const t0 = performance.now();
  const heard: string[] = [];
  socket.on('message', (m) =>
    heard.push(`${(performance.now() - t0).toFixed(1)} ms: ID ${m.readUInt16BE(0)}, rcode ${m[3]! & 15}`),
  );
  const ask = (id: number) =>
    socket.send(
      encodePacket({
        id,
        type: 'query',
        flags: 0x0100,
        questions: [{ name: bulkName(1), type: 'MX', class: 'IN' }],
      }),
    );
  ask(1001);
  await sleep(20);
  ask(1002);
  await sleep(300);
  console.log(`${name}: ${heard.join('; ') || 'nothing'}`);
  socket.close();
  await server.stop();
}
await line.stop();
await knot.stop();
