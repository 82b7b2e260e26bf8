// Where mail for a domain goes (RFC 5321 §5.1 with RFC 7505's null MX), from a resolveMx call:
// the MX list in delivery order, the domain itself when it has no MX, or nowhere.
import { codes, DnsError } from './errors.js';
import type { MxRecord } from './types.js';

/**
 * The hosts to deliver a domain's mail to, and how they were found.
 *
 * @example
 * ```ts
 * const { hosts, source } = await resolver.resolveMailHosts('example.com');
 * if (source === 'null') console.log('example.com accepts no mail');
 * else for (const { exchange, priority } of hosts) console.log(priority, exchange);
 * ```
 */
export interface MailHosts {
  /**
   * Most preferred (lowest priority) first. Hosts of equal priority keep the answer's order;
   * RFC 5321 §5.1 asks a sender to pick among them at random.
   */
  hosts: MxRecord[];
  /**
   * `'mx'`: from the domain's MX records. `'implicit'`: it has none (NODATA), so the domain
   * itself is the one host, priority 0. `'null'`: a null MX (`0 .`, RFC 7505): it accepts no
   * mail, and `hosts` is empty.
   */
  source: 'mx' | 'implicit' | 'null';
}

/**
 * Turns a `resolveMx` call into {@link MailHosts}: NODATA becomes the implicit MX, a null MX
 * becomes `'null'`; NXDOMAIN (ENOTFOUND) and every other failure reject as they are.
 *
 * @example
 * ```ts
 * await mailHosts('example.com', resolver.resolveMx('example.com'));
 * // { hosts: [{ exchange: 'mx1.example.com', priority: 10 }], source: 'mx' }
 * ```
 */
export async function mailHosts(domain: string, lookup: Promise<MxRecord[]>): Promise<MailHosts> {
  let records: MxRecord[];
  try {
    records = await lookup;
  } catch (err) {
    if (err instanceof DnsError && err.code === codes.NODATA) return implicit(domain);
    throw err;
  }
  if (records.length === 0) return implicit(domain);
  // RFC 7505 §3: the null MX is the only record when present; a `.` next to real hosts is
  // unusable either way, so only those hosts are kept.
  const usable = records.filter((r) => r.exchange !== '');
  if (usable.length === 0) return { hosts: [], source: 'null' };
  return { hosts: usable.sort((a, b) => a.priority - b.priority), source: 'mx' };
}

function implicit(domain: string): MailHosts {
  return { hosts: [{ exchange: domain.replace(/\.$/, ''), priority: 0 }], source: 'implicit' };
}
