// Knot DNS as a real authoritative server for the interop suites: knotd on a free loopback port with
// everything (config, zones, rundir, storage) in a temp dir, kdig to ask it, knotc to read its counters.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseZone } from '../../src/testing/zone.js';
import { binary, type LoopbackDaemon, probe, startDaemon, txtOf } from './bin.js';

const run = promisify(execFile);

/** What {@link startKnot} serves. */
export interface KnotOptions {
  /** Master-file text per zone, keyed by origin (`'example.test.'`); each text holds one zone. */
  zones: Record<string, string>;
  /** knotd's UDP workers (threads, one `SO_REUSEPORT` socket each); default 2. */
  udpWorkers?: number;
}

/** Requests knotd received per transport since it started; knotc leaves out zeros, these do not. */
export type KnotStats = { udp4: number; tcp4: number; udp6: number; tcp6: number } & Record<string, number>;

/** A running knotd. */
export interface KnotServer extends LoopbackDaemon {
  /** Knot's per-protocol request counters (mod-stats), e.g. `{ udp4: 12, tcp4: 3, ... }`. */
  stats(): Promise<KnotStats>;
}

// Zone file names: the origin, made safe for a path (no trailing dot, no '/').
function fileFor(origin: string): string {
  return `${origin.replace(/\.$/, '').replace(/[^A-Za-z0-9._-]/g, '_') || 'root'}.zone`;
}

function config(dir: string, port: number, identity: string, origins: string[], udpWorkers = 2): string {
  const zones = origins.map((o) => `  - domain: "${o}"\n    file: "${join(dir, 'zones', fileFor(o))}"`);
  return `# Written by test/helpers/knot.ts for one test run.
server:
    # Answers id.server CH TXT, so the readiness probe knows it reached this knotd and not
    # whatever else may hold the port.
    identity: "${identity}"
    rundir: "${join(dir, 'run')}"
    listen: 127.0.0.1@${port}
    # No \`user:\`: knotd then keeps the uid it was started with (root in CI, the developer locally),
    # which owns the temp dir. Debian's /etc/knot/knot.conf says knot:knot, but that file is not read.
    # A few workers: enough for loopback, and knotd does not spawn one per core on big CI machines.
    udp-workers: ${udpWorkers}
    tcp-workers: 2
    background-workers: 1

control:
    listen: "${join(dir, 'run', 'knot.sock')}"

log:
  - target: stderr
    any: info

database:
    storage: "${join(dir, 'db')}"

# Counts requests per transport, so a test can tell that a query really came over TCP.
mod-stats:
  - id: transport
    request-protocol: on
    server-operation: off
    request-bytes: off
    response-bytes: off
    edns-presence: off
    flag-presence: off
    response-code: off
    reply-nodata: off
    query-type: off
    query-size: off
    reply-size: off

template:
  - id: default
    global-module: mod-stats/transport
    # Serve the files as written: no journal, and never write the zones back.
    journal-content: none
    zonefile-sync: -1

zone:
${zones.join('\n')}
`;
}

/**
 * Starts knotd authoritative for `zones` on 127.0.0.1 (UDP and TCP, one port) and resolves once it
 * answers as itself and every zone is loaded.
 *
 * @example
 * ```ts
 * const knot = await startKnot({ zones: splitZones(readFileSync('fixtures/zones/seed.zone', 'utf8')) });
 * const resolver = new Resolver({ servers: [knot.server] });
 * await knot.stop();
 * ```
 */
export async function startKnot(options: KnotOptions): Promise<KnotServer> {
  const knotd = binary('knotd');
  const origins = Object.keys(options.zones);
  if (origins.length === 0) throw new Error('startKnot: no zones');
  const dir = await mkdtemp(join(tmpdir(), 'dnsgate-knot-'));
  const identity = `dnsgate-test-${randomBytes(6).toString('hex')}`;
  const conf = join(dir, 'knot.conf');
  const daemon = await startDaemon({
    label: 'knotd',
    dir,
    // knotd keeps running without a zone it could not load; the probe would wait for it in vain.
    fatal: /zone event 'load' failed|failed to load zone/,
    async command(port) {
      await Promise.all(['zones', 'run', 'db'].map((d) => mkdir(join(dir, d), { recursive: true })));
      for (const [origin, text] of Object.entries(options.zones)) {
        await writeFile(join(dir, 'zones', fileFor(origin)), text);
      }
      await writeFile(conf, config(dir, port, identity, origins, options.udpWorkers));
      // Without -d knotd stays in the foreground: it is our child, stopped by its pid.
      return { file: knotd, args: ['-c', conf] };
    },
    async ready(port) {
      const id = await probe(port, { questions: [{ name: 'id.server', type: 'TXT', class: 'CH' }] });
      if (txtOf(id) !== identity) return false;
      // knotd answers before it has loaded its zones (SERVFAIL or REFUSED meanwhile): wait for every SOA.
      for (const origin of origins) {
        const soa = await probe(port, { questions: [{ name: origin.replace(/\.$/, ''), type: 'SOA' }] });
        if (soa?.rcode !== 'NOERROR' || !soa.answers.some((r) => r.type === 'SOA')) return false;
      }
      return true;
    },
  });
  const socket = join(dir, 'run', 'knot.sock');
  return {
    ...daemon,
    async stats() {
      const { stdout } = await run(binary('knotc'), ['-s', socket, 'stats', 'mod-stats']);
      const counts: KnotStats = { udp4: 0, tcp4: 0, udp6: 0, tcp6: 0 };
      for (const m of stdout.matchAll(/^mod-stats\.request-protocol\[([\w-]+)\] = (\d+)$/gm)) {
        counts[m[1]!] = Number(m[2]);
      }
      return counts;
    },
  };
}

/**
 * Splits a master file holding several zones, each in its own `$ORIGIN` block with its SOA at the
 * origin (as fixtures/zones/*.zone are written), into one text per zone, since knot reads one file
 * per zone. Each piece keeps its original lines, so knot's own parser reads the fixture as written,
 * except for octets knot will not take raw (see {@link forKnot}); the `$TTL` in force where a block
 * starts is repeated at its top, since knot reads each file fresh. Throws when a block is not a zone
 * of its own, rather than serving something else than the fixture.
 */
export function splitZones(text: string): Record<string, string> {
  const zones: Record<string, string> = {};
  let ttl: string | undefined;
  let origin: string | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (origin === undefined) return;
    // Checked on the lines as written (dnsgate/testing's reader takes no escapes in names).
    const soa = parseZone(lines.join('\n')).find((r) => r.type === 'SOA');
    if (soa === undefined || `${soa.name.toLowerCase()}.` !== origin.toLowerCase()) {
      throw new Error(`splitZones: the $ORIGIN ${origin} block has no SOA at its origin`);
    }
    if (zones[origin] !== undefined) throw new Error(`splitZones: $ORIGIN ${origin} appears twice`);
    zones[origin] = `${lines.map(forKnot).join('\n')}\n`;
  };
  for (const line of text.split('\n')) {
    const directive = /^\$ORIGIN\s+(\S+)/i.exec(line);
    if (directive) {
      flush();
      origin = directive[1]!.endsWith('.') ? directive[1]! : `${directive[1]!}.`;
      lines = ttl === undefined ? [] : [ttl];
    }
    if (/^\$TTL\s/i.test(line)) ttl = line.replace(/;.*$/, '').trim();
    // Lines before the first $ORIGIN (comments, $TTL) belong to no zone of their own.
    if (origin !== undefined) lines.push(line);
  }
  flush();
  return zones;
}

const DELIMITERS = new Set([0x20, 0x09, 0x0d, 0x28, 0x29, 0x3b, 0x22]); // blank, CR, ( ) ; "
const ddd = (b: number) => `\\${String(b).padStart(3, '0')}`;

/**
 * One master-file line rewritten so knot's parser takes it, meaning the same octets. Knot rejects
 * raw non-ASCII octets (UTF-8 names and text) and '@' or '$' inside a name, where other readers
 * (BIND, dnsgate/testing) take them as themselves. RFC 1035 §5.1 lets any octet be written `\DDD`
 * and any character `\X`, so those become escapes; everything else is left as written.
 */
export function forKnot(line: string): string {
  const bytes = Buffer.from(line, 'utf8');
  let out = '';
  let quoted = false;
  let comment = false;
  const inToken = (b: number | undefined) => b !== undefined && !DELIMITERS.has(b);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b > 0x7e || (b < 0x20 && b !== 0x09 && b !== 0x0d)) {
      out += ddd(b);
    } else if (comment) {
      out += String.fromCharCode(b);
    } else if (b === 0x5c) {
      // An escape already: keep it, turning `\` + a raw non-ASCII octet into that octet's \DDD.
      const next = bytes[++i];
      if (next === undefined) out += '\\';
      else out += next > 0x7e ? ddd(next) : `\\${String.fromCharCode(next)}`;
    } else {
      if (b === 0x22) quoted = !quoted;
      else if (b === 0x3b && !quoted) comment = true;
      // '$' opening a line is a directive and a lone '@' is the origin; inside a name they are octets.
      const within = inToken(bytes[i - 1]) || inToken(bytes[i + 1]);
      const octet = !quoted && (b === 0x40 || b === 0x24) && within && !(b === 0x24 && i === 0);
      out += `${octet ? '\\' : ''}${String.fromCharCode(b)}`;
    }
  }
  return out;
}

/** One reply as kdig prints it with `+json` (RFC 8427), the fields the suites read. */
export interface KdigReply {
  RCODE: number;
  AA: number;
  TC: number;
  QNAME: string;
  QTYPEname: string;
  answerRRs?: KdigRecord[];
  authorityRRs?: KdigRecord[];
  additionalRRs?: KdigRecord[];
}

/** One record in kdig's JSON: `rdata<TYPE>` holds the RDATA in presentation form. */
export interface KdigRecord {
  NAME: string;
  TYPEname: string;
  TTL: number;
  [rdata: `rdata${string}`]: string;
}

/**
 * Asks 127.0.0.1:port every `[name, type]` question in one kdig run (kdig takes many queries per
 * command line, which keeps a few hundred questions well under a second) and returns the replies
 * keyed by `name type` (name lower-cased, without the trailing dot).
 *
 * UDP advertises EDNS0 1232, as dnsgate does, and `+ignore` keeps a truncated reply rather than
 * quietly retrying over TCP; `tcp` asks over TCP only.
 */
export async function kdig(
  port: number,
  questions: ReadonlyArray<readonly [string, string]>,
  transport: 'udp' | 'tcp',
): Promise<Map<string, KdigReply>> {
  const args = ['@127.0.0.1', '-p', String(port), '+json', '+bufsize=1232', '+retry=2', '+time=2'];
  args.push(transport === 'tcp' ? '+tcp' : '+ignore');
  for (const [name, type] of questions) args.push('-q', name, '-t', type);
  const { stdout } = await run(binary('kdig'), args, { maxBuffer: 64 * 1024 * 1024 });
  const replies = new Map<string, KdigReply>();
  // One pretty-printed JSON object per reply, each closed by a "}" alone on its line.
  for (const chunk of stdout.split(/^\}$/m)) {
    if (chunk.trim() === '') continue;
    const reply = JSON.parse(`${chunk}}`) as KdigReply;
    replies.set(`${reply.QNAME.toLowerCase().replace(/\.$/, '')} ${reply.QTYPEname}`, reply);
  }
  return replies;
}
