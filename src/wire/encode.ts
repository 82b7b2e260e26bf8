// Writes a standard query straight into a buffer the caller owns: no intermediate objects, no
// allocation. The bytes are exactly what dns-packet's encoder gives for the same query.

/** RFC 1035 §4.1.1: RD, asking the server to recurse (a stub resolver always does). */
const FLAG_RD = 0x0100;
const TYPE_OPT = 41;
const CLASS_IN = 1;

/**
 * The largest query {@link writeQuery} writes: header, a 255-octet name, type and class, and
 * the 11-byte OPT record (RFC 1035 §3.1, RFC 6891 §6.1.2).
 */
export const MAX_QUERY = 12 + 255 + 4 + 11;

/**
 * The wire length of a name as {@link toWireName} gives it (ASCII, labels of 1..63 octets, one
 * optional trailing dot already removed; `'.'` is the root): its length bytes, labels and root.
 */
export function wireNameLength(name: string): number {
  return name === '.' ? 1 : name.length + 2;
}

/**
 * Writes a one-question query of class IN with RD set into `buf` from offset 0 and returns its
 * length; the question ends at `12 + wireNameLength(name) + 4`. `name` must have passed
 * {@link toWireName} (so it is ASCII and fits); `udpPayload` > 0 adds an EDNS0 OPT record
 * advertising that size (RFC 6891 §6.1.2), 0 sends none.
 *
 * @example
 * ```ts
 * const buf = Buffer.allocUnsafe(MAX_QUERY);
 * const len = writeQuery(buf, 0x1234, 'example.com', 15, 1232);
 * socket.send(buf.subarray(0, len));
 * ```
 */
export function writeQuery(
  buf: Uint8Array,
  id: number,
  name: string,
  qtype: number,
  udpPayload: number,
): number {
  buf[0] = id >>> 8;
  buf[1] = id & 0xff;
  buf[2] = FLAG_RD >>> 8;
  buf[3] = FLAG_RD & 0xff;
  buf[4] = 0;
  buf[5] = 1; // QDCOUNT
  buf[6] = buf[7] = buf[8] = buf[9] = buf[10] = 0; // ANCOUNT, NSCOUNT, ARCOUNT high byte
  buf[11] = udpPayload > 0 ? 1 : 0;
  let at = 12;
  if (name !== '.') {
    // RFC 1035 §3.1: each label is its length, then its octets; the dots become the lengths.
    let lengthAt = at++;
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c === 0x2e) {
        buf[lengthAt] = at - lengthAt - 1;
        lengthAt = at++;
      } else {
        buf[at++] = c;
      }
    }
    buf[lengthAt] = at - lengthAt - 1;
  }
  buf[at++] = 0;
  buf[at++] = qtype >>> 8;
  buf[at++] = qtype & 0xff;
  buf[at++] = 0;
  buf[at++] = CLASS_IN;
  if (udpPayload > 0) {
    // RFC 6891 §6.1.2: root owner, TYPE 41, CLASS = payload size, TTL 0 (no extended rcode,
    // version 0, DO clear), no options.
    buf[at++] = 0;
    buf[at++] = 0;
    buf[at++] = TYPE_OPT;
    buf[at++] = udpPayload >>> 8;
    buf[at++] = udpPayload & 0xff;
    buf[at++] = 0;
    buf[at++] = 0;
    buf[at++] = 0;
    buf[at++] = 0;
    buf[at++] = 0;
    buf[at++] = 0;
  }
  return at;
}
