/** Why a datagram is not the answer to a query (RFC 5452 §9.1), or undefined when it is. */
export type Mismatch = 'short' | 'id' | 'not-response' | 'opcode' | 'question-count' | 'question';

/** Lower-cases one ASCII letter byte; DNS compares names ASCII case-insensitively (RFC 4343). */
function fold(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
}

/**
 * Does `datagram` answer `query`? Pure and cheap: it reads the 12-byte header, then compares
 * the question byte by byte, before anyone pays for a full decode.
 *
 * `query` is the encoded query; its question runs from offset 12 to `questionEnd`
 * (an uncompressed name, then type and class). The response repeats the question at the
 * same offset (RFC 1035 §4.1.2); its name is compared label by label, so a `.` byte inside
 * a label never passes for a label boundary, and letters compare without case.
 */
export function mismatch(datagram: Uint8Array, query: Uint8Array, questionEnd: number): Mismatch | undefined {
  if (datagram.length < 12) return 'short';
  const header = checkHeader(datagram, query);
  if (header) return header;
  if (datagram[5] === 0) return undefined; // the question-less FORMERR checkHeader let through
  if (datagram.length < questionEnd) return 'short';
  // Name: walk the labels of the query; the response must hold the same length bytes.
  let i = 12;
  for (;;) {
    const len = query[i]!;
    if (datagram[i] !== len) return 'question';
    i++;
    if (len === 0) break;
    const end = i + len;
    for (; i < end; i++) if (fold(datagram[i]!) !== fold(query[i]!)) return 'question';
  }
  // Type and class, exactly.
  for (; i < questionEnd; i++) if (datagram[i] !== query[i]) return 'question';
  return undefined;
}

function checkHeader(d: Uint8Array, q: Uint8Array): Mismatch | undefined {
  if (d[0] !== q[0] || d[1] !== q[1]) return 'id';
  const flags = d[2]!;
  if ((flags & 0x80) === 0) return 'not-response';
  if ((flags & 0x78) !== (q[2]! & 0x78)) return 'opcode';
  if (d[4] !== 0 || d[5] !== 1) {
    // RFC 6891 §7: a server that knows no EDNS may answer FORMERR without echoing the question.
    // Accept that one case (ID and QR already match) so the caller can retry without OPT, and
    // only when the query carried OPT (ARCOUNT): otherwise a forger who guessed 16 bits of ID
    // could end a query with a bare header (RFC 5452 §9.1 wants the question too).
    if (d[4] === 0 && d[5] === 0 && (d[3]! & 0x0f) === 1 && (q[10]! | q[11]!) !== 0) return undefined;
    return 'question-count';
  }
  return undefined;
}

/** Where the question of an encoded single-question query ends. */
export function questionEnd(query: Uint8Array): number {
  let i = 12;
  while (query[i] !== 0) i += query[i]! + 1;
  return i + 1 + 4;
}
