// resolveMailHosts: RFC 5321 §5.1 delivery order and implicit MX, RFC 7505 null MX, and the
// failures that stay failures, against the built-in server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsError, Resolver } from '../src/index.js';
import { silent, startTestServer, type TestServer } from '../src/testing/index.js';

const ZONE = `$ORIGIN mail.test.
$TTL 300
@        SOA ns hostmaster 1 3600 600 86400 60
@        NS  ns
ns       A   192.0.2.1
; listed out of order, with a tie at 20
multi    MX  30 c.mx.test.
multi    MX  10 a.mx.test.
multi    MX  20 b1.mx.test.
multi    MX  20 b2.mx.test.
; RFC 7505: accepts no mail
nomail   MX  0 .
; a null MX next to a real host (RFC 7505 says never; the real host is used)
mixed    MX  0 .
mixed    MX  10 real.mx.test.
; no MX at all: mail goes to the name itself
bare     A   192.0.2.7
`;

describe('resolveMailHosts', () => {
  let server: TestServer;
  let r: Resolver;
  beforeAll(async () => {
    server = await startTestServer({ zone: ZONE });
    r = new Resolver({ servers: [server.server] });
  });
  afterAll(() => server.close());

  it('gives the MX hosts most preferred first, ties in answer order', async () => {
    expect(await r.resolveMailHosts('multi.mail.test')).toEqual({
      source: 'mx',
      hosts: [
        { exchange: 'a.mx.test', priority: 10 },
        { exchange: 'b1.mx.test', priority: 20 },
        { exchange: 'b2.mx.test', priority: 20 },
        { exchange: 'c.mx.test', priority: 30 },
      ],
    });
  });

  it('a null MX means no mail: no hosts', async () => {
    expect(await r.resolveMailHosts('nomail.mail.test')).toEqual({ source: 'null', hosts: [] });
  });

  it('a null MX next to real hosts is skipped', async () => {
    expect(await r.resolveMailHosts('mixed.mail.test')).toEqual({
      source: 'mx',
      hosts: [{ exchange: 'real.mx.test', priority: 10 }],
    });
  });

  it('no MX records (NODATA): the domain itself, priority 0', async () => {
    expect(await r.resolveMailHosts('bare.mail.test.')).toEqual({
      source: 'implicit',
      hosts: [{ exchange: 'bare.mail.test', priority: 0 }],
    });
  });

  it('a domain that does not exist is ENOTFOUND, named as a queryMx', async () => {
    const err = await r.resolveMailHosts('gone.mail.test').catch((e) => e);
    expect(err).toBeInstanceOf(DnsError);
    expect(err).toMatchObject({ code: 'ENOTFOUND', syscall: 'queryMx', hostname: 'gone.mail.test' });
  });

  it('bad input fails as resolveMx does', async () => {
    expect(() => r.resolveMailHosts(42 as never)).toThrow(TypeError);
    await expect(r.resolveMailHosts('a..b')).rejects.toMatchObject({ code: 'EBADNAME' });
  });
});

describe('resolveMailHosts when the server is silent', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ zone: ZONE, script: silent() });
  });
  afterAll(() => server.close());

  it('a timeout is not taken for "no MX": it rejects with ETIMEOUT', async () => {
    const r = new Resolver({ servers: [server.server], timeout: 20, tries: 1 });
    await expect(r.resolveMailHosts('bare.mail.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });
  });
});
