// The test server's own codec: dns-packet, called directly. The server must not read queries or
// write replies with the client's codec (src/wire/): a bug the two sides shared would pass every
// test. Only the published record shapes (types, erased at run time) come from src/wire/types.ts.
import { createRequire } from 'node:module';
import type { Packet } from '../wire/types.js';

// dns-packet is CommonJS; loading it through `require` rather than an ESM `import` spares node's
// CommonJS export lexer (about 7 MB of RSS for the life of the process, see src/wire/codec.ts).
const require = createRequire(import.meta.url);
const dnsPacket: typeof import('dns-packet') = require('dns-packet');

/** dns-packet's own name for a message; dnsgate's Packet is its published shape. */
type DnsPacketMessage = Parameters<typeof dnsPacket.encode>[0];

/** RFC 8020 / DNS Flag Day 2020: the EDNS0 UDP payload size the server advertises in its OPT. */
export const SERVER_UDP_PAYLOAD = 1232;

/**
 * Decodes a whole message with dns-packet. Throws when dns-packet cannot read it, or when bytes
 * are left over after the last record it counts (RFC 1035 §4.1: a message is its sections and
 * nothing more), so such a query gets its FORMERR.
 */
export function decodePacket(bytes: Buffer): Packet {
  const message = dnsPacket.decode(bytes);
  const used = dnsPacket.decode.bytes;
  if (used !== bytes.length) throw new Error(`${bytes.length - used} bytes after the last record`);
  return message as unknown as Packet;
}

/** Encodes a message with dns-packet. */
export function encodePacket(message: Packet): Buffer {
  return dnsPacket.encode(message as DnsPacketMessage);
}
