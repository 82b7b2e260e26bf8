// Question: what does the adaptive gate do over one run? 10,000 distinct MX lookups through a home
// router (dnsmasq, dns-forward-max 20, no cache) in front of knotd, at a ceiling of 200: the
// working limit and the queries in flight, sampled every 2 ms, drawn to docs/adaptive-limit.svg.
// Run: npm run plot:limit [-- --ceiling 200 --lookups 10000]
import { subscribe } from 'node:diagnostics_channel';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Resolver } from '../../src/index.js';
import { BULK_ORIGIN, bulkName, bulkZone } from '../helpers/bulk-zone.js';
import { startDnsmasq } from '../helpers/dnsmasq.js';
import { startKnot } from '../helpers/knot.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const CEILING = arg('ceiling', 200);
const LOOKUPS = arg('lookups', 10_000);
const FORWARD_MAX = 20;
const nameOf = bulkName;

const knot = await startKnot({ zones: { [`${BULK_ORIGIN}.`]: bulkZone(LOOKUPS) } });
const router = await startDnsmasq({ upstream: knot.server, forwardMax: FORWARD_MAX });

let refused = 0;
subscribe('dnsgate:query:outcome', (m) => {
  if ((m as { rcode?: string }).rcode === 'REFUSED') refused++;
});
const resolver = new Resolver({ servers: [router.server], concurrency: CEILING, coalesce: false });
const samples: Array<{ t: number; limit: number; inFlight: number }> = [];
const started = performance.now();
const sampler = setInterval(() => {
  const view = resolver.limits[0];
  if (view) samples.push({ t: performance.now() - started, limit: view.limit, inFlight: view.inFlight });
}, 2);
const results = await Promise.allSettled(
  Array.from({ length: LOOKUPS }, (_, i) => resolver.resolveMx(nameOf(i))),
);
clearInterval(sampler);
const ms = performance.now() - started;
await router.stop();
await knot.stop();
const lost = results.filter((r) => r.status === 'rejected').length;
const sent = resolver.stats.sent;

// The picture: time across, queries in flight up; the limit, what was in flight, the router's 20.
const W = 720;
const H = 300;
const pad = { l: 48, r: 16, t: 28, b: 36 };
const top = Math.max(40, ...samples.map((s) => Math.max(s.limit, s.inFlight)));
const x = (t: number) => pad.l + (t / ms) * (W - pad.l - pad.r);
const y = (v: number) => H - pad.b - (v / top) * (H - pad.t - pad.b);
const path = (key: 'limit' | 'inFlight') =>
  samples.map((s, i) => `${i === 0 ? 'M' : 'L'}${x(s.t).toFixed(1)},${y(s[key]).toFixed(1)}`).join('');
const ticks = Array.from({ length: 5 }, (_, i) => Math.round((top / 4) * i));
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<title>The adaptive gate's working limit and the queries in flight over one run through dnsmasq</title>
<rect width="${W}" height="${H}" fill="white"/>
<text x="${pad.l}" y="18">Adaptive limit through dnsmasq (dns-forward-max ${FORWARD_MAX}), ceiling ${CEILING}: ${LOOKUPS.toLocaleString('en')} lookups, ${lost} lost, ${refused} refused of ${sent} sent, ${(ms / 1000).toFixed(2)} s</text>
${ticks.map((v) => `<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`).join('\n')}
<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(FORWARD_MAX)}" y2="${y(FORWARD_MAX)}" stroke="#c33" stroke-dasharray="4 3"/>
<text x="${W - pad.r}" y="${y(FORWARD_MAX) - 4}" text-anchor="end" fill="#c33">router limit ${FORWARD_MAX}</text>
<path d="${path('inFlight')}" fill="none" stroke="#9bc" stroke-width="1"/>
<path d="${path('limit')}" fill="none" stroke="#036" stroke-width="2"/>
<text x="${pad.l}" y="${H - 10}">0 s</text><text x="${W - pad.r}" y="${H - 10}" text-anchor="end">${(ms / 1000).toFixed(2)} s</text>
<text x="${W / 2}" y="${H - 10}" text-anchor="middle"><tspan fill="#036">— working limit</tspan>   <tspan fill="#9bc">— queries in flight</tspan></text>
</svg>
`;
mkdirSync(new URL('../../docs/', import.meta.url), { recursive: true });
writeFileSync(new URL('../../docs/adaptive-limit.svg', import.meta.url), svg);
console.log(
  `ceiling ${CEILING}: ${LOOKUPS} lookups, ${lost} lost, ${refused} refused of ${sent} sent (${((refused / sent) * 100).toFixed(1)}%), ${ms.toFixed(0)} ms; docs/adaptive-limit.svg`,
);
