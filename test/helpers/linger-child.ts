// A process that gives up on a query to a silent server and then has nothing left to do: it must
// exit at once, though the query lingers (holding its permit) until its 5 s try would time out.
import { Resolver } from '../../src/index.js';
import { silent, startTestServer } from '../../src/testing/index.js';

const server = await startTestServer({
  zone: '$ORIGIN t.test.\n@ 60 IN SOA ns hm 1 2 3 4 60\n',
  script: silent(),
});
const resolver = new Resolver({ servers: [server.server], timeout: 5000, tries: 1 });
const call = resolver.resolveMx('t.test');
await new Promise((resolve) => setTimeout(resolve, 50));
resolver.cancel();
const error = await call.catch((e: { code?: string }) => e);
console.log((error as { code?: string }).code, resolver.semaphore.tokens);
await server.close();
