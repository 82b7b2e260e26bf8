// Unbound as a recursive resolver in front of one upstream: it listens on a free loopback port,
// forwards every query to that upstream, caches nothing worth speaking of, and works on at most
// `num-queries-per-thread` queries at once (one thread); past that it jostles or drops.
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binary, type LoopbackDaemon, probe, startDaemon, txtOf } from './bin.js';

/** How {@link startUnbound} runs unbound. */
export interface UnboundOptions {
  /** The one upstream, `'127.0.0.1:PORT'`. Loopback only: the tests never send elsewhere. */
  upstream: string;
  /** `num-queries-per-thread`: queries unbound works on at once (one thread; its own default is 1024). */
  numQueriesPerThread: number;
  /**
   * More config lines, in a `server:` clause of their own at the end (a later setting wins), e.g.
   * `['verbosity: 2', 'statistics-interval: 1']`. A clause header among them opens that clause.
   */
  extra?: string[];
  /** Cache answers for their TTL (4 MB each of messages and records) rather than nothing. */
  cache?: boolean;
}

/**
 * A running unbound. Its log (stderr) holds e.g. "server stats for thread 0: requestlist max 16 avg
 * 15.9 exceeded 812 jostled 0" with `statistics-interval` set in `extra`.
 */
export type UnboundServer = LoopbackDaemon;

function config(
  dir: string,
  port: number,
  identity: string,
  upstream: string,
  options: UnboundOptions,
): string {
  const extra = [
    ...(options.cache ? ['msg-cache-size: 4m', 'rrset-cache-size: 4m', 'cache-max-ttl: 86400'] : []),
    ...(options.extra ?? []),
  ];
  return `# Written by test/helpers/unbound.ts for one test run.
server:
    # Answers id.server CH TXT itself, so the readiness probe knows it reached this unbound and not
    # whatever else may hold the port.
    identity: "${identity}"
    hide-identity: no
    interface: 127.0.0.1
    port: ${port}
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    # Without SO_REUSEPORT a port someone else holds is "Address already in use" (startDaemon then
    # retries on another port) rather than two servers sharing it.
    so-reuseport: no
    access-control: 127.0.0.0/8 allow
    # Hermetic and unprivileged: no chroot, and no switch to Debian's \`unbound\` user (root in CI, the
    # developer locally, who owns the temp dir). /etc/unbound/unbound.conf is not read.
    chroot: ""
    username: ""
    directory: "${dir}"
    pidfile: "${join(dir, 'unbound.pid')}"
    # Log to stderr (which startDaemon keeps) instead of syslog.
    use-syslog: no
    logfile: ""
    log-time-ascii: yes
    verbosity: 1
    # One thread, so num-queries-per-thread is the whole server's limit.
    num-threads: 1
    num-queries-per-thread: ${options.numQueriesPerThread}
    # Nothing worth speaking of cached: with a zero TTL no message is kept, so every query is
    # forwarded and counts against num-queries-per-thread (jostle-timeout stays at its default).
    msg-cache-size: 4k
    msg-cache-slabs: 1
    rrset-cache-size: 4k
    rrset-cache-slabs: 1
    key-cache-slabs: 1
    infra-cache-slabs: 1
    cache-max-ttl: 0
    cache-max-negative-ttl: 0
    prefetch: no
    serve-expired: no
    # Only the iterator (no validator: no trust anchor to find), forwarding to the loopback upstream.
    module-config: "iterator"
    do-not-query-localhost: no
    qname-minimisation: no
    # unbound answers .test itself (RFC 6761) unless told otherwise; the fixtures live there.
    local-zone: "test." nodefault

remote-control:
    control-enable: no

forward-zone:
    name: "."
    forward-addr: ${upstream}
    forward-first: no
${extra.length > 0 ? `\nserver:\n${extra.map((line) => `    ${line}`).join('\n')}\n` : ''}`;
}

/**
 * Starts unbound on 127.0.0.1 forwarding everything to `upstream`, and resolves once it answers as
 * itself (id.server CH TXT, which it answers without the upstream).
 *
 * @example
 * ```ts
 * const resolverInFront = await startUnbound({ upstream: knot.server, numQueriesPerThread: 16 });
 * const resolver = new Resolver({ servers: [resolverInFront.server], concurrency: 200 });
 * await resolverInFront.stop();
 * ```
 */
export async function startUnbound(options: UnboundOptions): Promise<UnboundServer> {
  const m = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}):(\d{1,5})$/.exec(options.upstream);
  if (!m) throw new Error(`startUnbound: upstream must be 127.x.x.x:PORT, got ${options.upstream}`);
  const n = options.numQueriesPerThread;
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`startUnbound: numQueriesPerThread must be an integer from 1, got ${n}`);
  }
  const upstream = `${m[1]}@${m[2]}`;
  const unbound = binary('unbound');
  const dir = await mkdtemp(join(tmpdir(), 'dnsgate-unbound-'));
  const identity = `dnsgate-test-${randomBytes(6).toString('hex')}`;
  const conf = join(dir, 'unbound.conf');
  return startDaemon({
    label: 'unbound',
    dir,
    async command(port) {
      await writeFile(conf, config(dir, port, identity, upstream, options));
      // -d: stay in the foreground, our child, stopped by its pid.
      return { file: unbound, args: ['-d', '-c', conf] };
    },
    async ready(port) {
      const id = await probe(port, { questions: [{ name: 'id.server', type: 'TXT', class: 'CH' }] });
      return txtOf(id) === identity;
    },
  });
}
