// dnsmasq as the home router's forwarder: it listens on a free loopback port, forwards every query to
// one upstream, caches nothing (unless told), and holds at most `dns-forward-max` forwarded queries at once.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binary, type LoopbackDaemon, probe, startDaemon, txtOf } from './bin.js';

/** How {@link startDnsmasq} runs dnsmasq. */
export interface DnsmasqOptions {
  /** The one upstream, `'127.0.0.1:PORT'`. Loopback only: the tests never send elsewhere. */
  upstream: string;
  /** `--dns-forward-max`: forwarded queries dnsmasq holds at once (its own default is 150). */
  forwardMax: number;
  /**
   * `--cache-size`: answers kept (default 0: every query is forwarded); MX records among them
   * (`--cache-rr=MX`: dnsmasq 2.90 caches only A, AAAA, CNAME and SRV unless told more types).
   */
  cacheSize?: number;
  /** More command-line options, e.g. `['--log-queries']`. */
  extra?: string[];
}

/** A running dnsmasq. Its log (stderr) holds e.g. "Maximum number of concurrent DNS queries reached". */
export type DnsmasqServer = LoopbackDaemon;

/**
 * Starts dnsmasq on 127.0.0.1 forwarding to `upstream`, and resolves once it answers and names that
 * upstream (so it is this dnsmasq on the port, not another test's server).
 *
 * @example
 * ```ts
 * const router = await startDnsmasq({ upstream: knot.server, forwardMax: 20 });
 * const resolver = new Resolver({ servers: [router.server], concurrency: 16 });
 * await router.stop();
 * ```
 */
export async function startDnsmasq(options: DnsmasqOptions): Promise<DnsmasqServer> {
  const m = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}:(\d{1,5})$/.exec(options.upstream);
  if (!m) throw new Error(`startDnsmasq: upstream must be 127.x.x.x:PORT, got ${options.upstream}`);
  const upstream = options.upstream.replace(/:(\d+)$/, '#$1');
  const dnsmasq = binary('dnsmasq');
  const dir = await mkdtemp(join(tmpdir(), 'dnsgate-dnsmasq-'));
  return startDaemon({
    label: 'dnsmasq',
    dir,
    async command(port) {
      const args = [
        '--keep-in-foreground',
        // Log to stderr (which startDaemon keeps) instead of syslog.
        '--log-facility=-',
        // Hermetic: not /etc/dnsmasq.conf, /etc/resolv.conf nor /etc/hosts.
        '--conf-file=/dev/null',
        '--no-resolv',
        '--no-hosts',
        '--no-poll',
        `--server=${upstream}`,
        `--port=${port}`,
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        // Nothing cached (by default), so every query is forwarded and counts against dns-forward-max.
        `--cache-size=${options.cacheSize ?? 0}`,
        ...(options.cacheSize ? ['--cache-rr=MX'] : []),
        `--dns-forward-max=${options.forwardMax}`,
        `--pid-file=${join(dir, 'dnsmasq.pid')}`,
      ];
      // As root dnsmasq drops to the user it was built with (dnsmasq or nobody); stay root instead, so
      // it never depends on that user existing. As anyone else it cannot switch and does not try.
      if (process.getuid?.() === 0) args.push('--user=root', '--group=root');
      args.push(...(options.extra ?? []));
      return { file: dnsmasq, args };
    },
    async ready(port) {
      // dnsmasq answers servers.bind CH TXT itself with "127.0.0.1#PORT <queries> <failed>".
      const reply = await probe(port, { questions: [{ name: 'servers.bind', type: 'TXT', class: 'CH' }] });
      return txtOf(reply)?.startsWith(`${upstream} `) ?? false;
    },
  });
}
