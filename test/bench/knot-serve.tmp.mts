import { startKnot } from '../helpers/knot.js';

const NAMES = 10000;
const lines = [
  '$ORIGIN bench.test.',
  '$TTL 3600',
  '@ SOA ns hostmaster 1 3600 600 86400 60',
  '@ NS ns',
  'ns A 127.0.0.1',
];
for (let i = 0; i < NAMES; i++)
  lines.push(`d${i} MX 10 mx1.d${i}`, `d${i} MX 20 mx2.d${i}`, `d${i} A 192.0.2.${i % 250}`);
const knot = await startKnot({ zones: { 'bench.test.': `${lines.join('\n')}\n` } });
console.log(knot.server);
process.on('SIGTERM', async () => {
  await knot.stop();
  process.exit(0);
});
setInterval(() => {}, 1e9);
