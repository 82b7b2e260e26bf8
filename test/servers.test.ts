import { describe, expect, it } from 'vitest';
import { Resolver } from '../src/index.js';

describe('nameserver strings', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'],
    ['1.2.3.4:53', '1.2.3.4'],
    ['1.2.3.4:5353', '1.2.3.4:5353'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['[::1]:53', '::1'],
    ['[::1]:5353', '[::1]:5353'],
    ['[2001:db8::1]:5353', '[2001:db8::1]:5353'],
  ])('%s reads back as %s, as in node', (input, shown) => {
    const r = new Resolver({ servers: [input] });
    expect(r.getServers()).toEqual([shown]);
  });

  it.each(['nope', '1.2.3', '0::00:00:00/2', '::1:53x', '[::1', '1.2.3.4:', '1.2.3.4:x', 'localhost:53', ''])(
    "%j is node's ERR_INVALID_IP_ADDRESS, naming it",
    (input) => {
      expect(() => new Resolver({ servers: [input] })).toThrow(TypeError);
      expect(() => new Resolver({ servers: [input] })).toThrow(`Invalid IP address: ${input}`);
      expect(() => new Resolver({ servers: [input] })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS' }),
      );
    },
  );

  it.each(['1.2.3.4:0', '1.2.3.4:99999', '[::1]:65536'])(
    '%s has a port out of range: RangeError',
    (input) => {
      expect(() => new Resolver({ servers: [input] })).toThrow(RangeError);
    },
  );

  it('setServers replaces, and rejects non-arrays and non-strings', () => {
    const r = new Resolver({ servers: ['127.0.0.1'] });
    r.setServers(['127.0.0.2:5300', '[::1]:5300']);
    expect(r.getServers()).toEqual(['127.0.0.2:5300', '[::1]:5300']);
    // @ts-expect-error: wrong type on purpose
    expect(() => r.setServers('127.0.0.1')).toThrow(TypeError);
    // @ts-expect-error: wrong type on purpose
    expect(() => r.setServers([53])).toThrow(TypeError);
    expect(r.getServers()).toEqual(['127.0.0.2:5300', '[::1]:5300']);
  });

  it('defaults to the nameserver lines of /etc/resolv.conf, else 127.0.0.1', () => {
    const servers = new Resolver().getServers();
    expect(servers.length).toBeGreaterThan(0);
  });
});
