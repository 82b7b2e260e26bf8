import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkString, invalidArgType, invalidIpAddress } from './args.js';
import { ipv6Text } from './wire/names.js';

/** A nameserver as dnsgate talks to it. */
export interface ServerAddress {
  address: string;
  port: number;
  family: 4 | 6;
  /** `host:port` (`[v6]:port`), always with the port: used in errors and results. */
  label: string;
}

function make(address: string, port: number, family: 4 | 6): ServerAddress {
  return { address, port, family, label: family === 6 ? `[${address}]:${port}` : `${address}:${port}` };
}

/** An address in node's form (`'::'` for `::0`, IPv6 lower case and compressed); a zone stays. */
function canonical(address: string, family: 4 | 6): string {
  if (family === 4) return address;
  const zone = address.indexOf('%');
  return zone < 0 ? ipv6Text(address) : `${ipv6Text(address.slice(0, zone))}${address.slice(zone)}`;
}

/**
 * Parses one nameserver string as node's `setServers` does: `'1.2.3.4'`, `'1.2.3.4:5353'`,
 * `'::1'`, `'[::1]'`, `'[::1]:5353'` (and `'[1.2.3.4]:53'`). Port defaults to 53. Note that
 * `'::1:53'` is the IPv6 address ::1:53, not ::1 port 53: a port after an IPv6 address needs the
 * brackets. Throws node's ERR_INVALID_ARG_TYPE for a non-string and ERR_INVALID_IP_ADDRESS for
 * anything else it cannot read; a port outside 1..65535 is a RangeError (node wraps it, or aborts
 * the process for port 0).
 */
export function parseServer(value: unknown, name = 'server'): ServerAddress {
  checkString(value, name);
  let host = value;
  let portText: string | undefined;
  if (isIP(value) === 0) {
    // '[address]' with an optional ':port', or 'ipv4:port'
    const m = /^\[([^[\]]*)\](?::(\d+))?$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
    if (m === null || isIP(m[1]!) === 0 || (value[0] !== '[' && isIP(m[1]!) !== 4))
      throw invalidIpAddress(value);
    host = m[1]!;
    portText = m[2];
  }
  let port = 53;
  if (portText !== undefined) {
    port = Number(portText);
    if (port < 1 || port > 65535) {
      throw Object.assign(
        new RangeError(`Invalid nameserver port in ${JSON.stringify(value)}: expected 1..65535, got ${port}`),
        { code: 'ERR_SOCKET_BAD_PORT' },
      );
    }
  }
  const family = isIP(host) as 4 | 6;
  return make(canonical(host, family), port, family);
}

/** Node's `getServers()` form: the port only when it is not 53; an IPv6 zone is not shown. */
export function formatServer(server: ServerAddress): string {
  const address = server.address.split('%')[0]!;
  if (server.port === 53) return address;
  return server.family === 6 ? `[${address}]:${server.port}` : `${address}:${server.port}`;
}

/**
 * Parses a list for `setServers` / the `servers` option as node does: an empty list is allowed,
 * holes in a sparse array are skipped, and a server given twice is kept once.
 */
export function parseServers(values: unknown): ServerAddress[] {
  if (!Array.isArray(values)) throw invalidArgType('servers', 'an instance of Array', values);
  const out: ServerAddress[] = [];
  values.forEach((value: unknown, index) => {
    const server = parseServer(value, `servers[${index}]`);
    if (!out.some((s) => s.label === server.label)) out.push(server);
  });
  return out;
}

/** The `nameserver` lines of /etc/resolv.conf, or 127.0.0.1 when there are none. */
export function systemServers(path = '/etc/resolv.conf'): ServerAddress[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    // No resolv.conf (containers, Windows): fall back below.
  }
  const found: ServerAddress[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const address = m[1]!; // an IPv6 zone id stays: a link-local server needs it
    const family = isIP(address);
    if (family !== 0) found.push(make(canonical(address, family as 4 | 6), 53, family as 4 | 6));
  }
  return found.length > 0 ? found : [make('127.0.0.1', 53, 4)];
}
