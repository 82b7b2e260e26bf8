import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

/** A nameserver as dnsgate talks to it. */
export interface ServerAddress {
  address: string;
  port: number;
  family: 4 | 6;
  /** `host:port` (`[v6]:port`), always with the port: used in errors and results. */
  label: string;
}

function invalid(value: unknown): TypeError {
  return new TypeError(
    `Invalid nameserver ${JSON.stringify(value)}: expected an IP address with an optional port, like '1.2.3.4', '1.2.3.4:5353', '::1' or '[::1]:5353'`,
  );
}

function make(address: string, port: number, family: 4 | 6): ServerAddress {
  return { address, port, family, label: family === 6 ? `[${address}]:${port}` : `${address}:${port}` };
}

/**
 * Parses one nameserver string the way node's `setServers` accepts them:
 * `'1.2.3.4'`, `'1.2.3.4:5353'`, `'::1'`, `'[::1]'`, `'[::1]:5353'`. Port defaults to 53.
 * Throws TypeError naming the value for anything else, RangeError for a port outside 1..65535.
 */
export function parseServer(value: unknown): ServerAddress {
  if (typeof value !== 'string') throw invalid(value);
  let host = value;
  let portText: string | undefined;
  if (value.startsWith('[')) {
    // '[v6]' or '[v6]:port'
    const close = value.indexOf(']');
    if (close < 0) throw invalid(value);
    host = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw invalid(value);
      portText = rest.slice(1);
    }
    if (isIP(host) !== 6) throw invalid(value);
  } else if (isIP(value) === 0) {
    // Only IPv4 may carry a bare ':port'; a bare IPv6 address has no port.
    const colon = value.lastIndexOf(':');
    if (colon < 0) throw invalid(value);
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (isIP(host) !== 4) throw invalid(value);
  }
  let port = 53;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) throw invalid(value);
    port = Number(portText);
    if (port < 1 || port > 65535) {
      throw new RangeError(
        `Invalid nameserver port in ${JSON.stringify(value)}: expected 1..65535, got ${port}`,
      );
    }
  }
  return make(host, port, isIP(host) as 4 | 6);
}

/** Node's `getServers()` form: the port only when it is not 53. */
export function formatServer(server: ServerAddress): string {
  if (server.port === 53) return server.address;
  return server.label;
}

/** Parses a list for `setServers` / the `servers` option; an empty list is allowed, as in node. */
export function parseServers(values: unknown): ServerAddress[] {
  if (!Array.isArray(values)) {
    throw new TypeError(`Expected \`servers\` to be an array of strings, got ${typeof values}`);
  }
  return values.map(parseServer);
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
    const address = m[1]!.split('%')[0]!; // drop an IPv6 zone id
    const family = isIP(address);
    if (family !== 0) found.push(make(address, 53, family as 4 | 6));
  }
  return found.length > 0 ? found : [make('127.0.0.1', 53, 4)];
}
