// Text forms for the command line: one record per line, and whole messages in a dig-like form.
import type { DnsMessage } from '../types.js';
import type { Answer } from '../wire/codec.js';

/**
 * JSON.stringify replacer: rdata bytes (Buffers) as `{ "hex": "..." }`, one form for every byte
 * string, so text and hex can never be mistaken for each other (`Buffer.from(x.hex, 'hex')`).
 */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer') {
    return { hex: Buffer.from((value as { data: number[] }).data).toString('hex') };
  }
  return value;
}

const quote = (s: string) => JSON.stringify(s);

/** One value of a `resolve TYPE` result, as text. */
export function formatValue(type: string, value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  switch (type) {
    case 'MX':
      return `${v.priority} ${v.exchange}`;
    case 'TXT':
      return (value as string[]).map(quote).join(' ');
    case 'SRV':
      return `${v.priority} ${v.weight} ${v.port} ${v.name}`;
    case 'SOA':
      return `${v.nsname} ${v.hostmaster} ${v.serial} ${v.refresh} ${v.retry} ${v.expire} ${v.minttl}`;
    case 'NAPTR':
      return `${v.order} ${v.preference} ${quote(String(v.flags))} ${quote(String(v.service))} ${quote(String(v.regexp))} ${v.replacement || '.'}`;
    default:
      return JSON.stringify(value, jsonReplacer);
  }
}

/** A record in presentation form (RFC 1035 §5.1), near enough for reading. */
export function formatRecord(a: Answer): string {
  const r = a as Answer & { ttl?: number; class?: string; data?: unknown };
  const data = r.data as Record<string, unknown> | string | Buffer[] | undefined;
  let text: string;
  switch (r.type) {
    case 'MX': {
      const d = data as { preference?: number; exchange: string };
      text = `${d.preference ?? 0} ${d.exchange}.`;
      break;
    }
    case 'TXT':
      text = (data as Buffer[]).map((b) => quote(b.toString())).join(' ');
      break;
    case 'SOA': {
      const d = data as Record<string, unknown>;
      text = `${d.mname}. ${d.rname}. ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
      break;
    }
    case 'SRV': {
      const d = data as Record<string, unknown>;
      text = `${d.priority ?? 0} ${d.weight ?? 0} ${d.port} ${d.target}.`;
      break;
    }
    case 'NS':
    case 'CNAME':
    case 'PTR':
    case 'DNAME':
      text = `${data}.`;
      break;
    default:
      text = typeof data === 'string' ? data : JSON.stringify(data, jsonReplacer);
  }
  return `${r.name}.\t${r.ttl ?? ''}\t${r.class ?? 'IN'}\t${r.type}\t${text}`;
}

/** A whole response, dig-like. */
export function formatMessage(m: DnsMessage): string[] {
  const flags = Object.entries(m.flags)
    .filter(([, on]) => on)
    .map(([f]) => f)
    .join(' ');
  const lines = [`;; ${m.rcode}, id ${m.id}, flags: ${flags}, from ${m.server}`];
  for (const [title, records] of [
    ['ANSWER', m.answers],
    ['AUTHORITY', m.authorities],
    ['ADDITIONAL', m.additionals.filter((a) => a.type !== 'OPT')],
  ] as const) {
    if (records.length === 0) continue;
    lines.push(`;; ${title}`);
    for (const r of records) lines.push(formatRecord(r));
  }
  return lines;
}
