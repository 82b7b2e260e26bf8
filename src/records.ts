// Decoded answers -> node's result shapes.
import type { Answer } from './wire/codec.js';

/** Node's `MxRecord`. */
export interface MxRecord {
  exchange: string;
  priority: number;
}

/** The answer records of one type, in the order the server sent them. */
export function ofType(answers: readonly Answer[], type: string): Answer[] {
  return answers.filter((a) => a.type === type);
}

/** Node returns the root as '' (RFC 7505 null MX: `0 .`); dns-packet decodes it as '.'. */
export function hostName(name: string): string {
  return name === '.' ? '' : name;
}

export function toMx(answers: readonly Answer[]): MxRecord[] {
  return ofType(answers, 'MX').map((a) => {
    const data = (a as { data: { exchange: string; preference?: number } }).data;
    return { exchange: hostName(data.exchange), priority: data.preference ?? 0 };
  });
}
