// Decoded answers -> node's result shapes. (Placeholder shapes; completed with the parity tests.)
import type { Answer } from './wire/codec.js';

/** Node's `MxRecord`. */
export interface MxRecord {
  exchange: string;
  priority: number;
}
/** Node's `RecordWithTtl` (`resolve4`/`resolve6` with `{ ttl: true }`). */
export interface RecordWithTtl {
  address: string;
  ttl: number;
}
/** Node's `SoaRecord`. */
export interface SoaRecord {
  nsname: string;
  hostmaster: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minttl: number;
}
/** Node's `SrvRecord`. */
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  name: string;
}
/** Node's `NaptrRecord`. */
export interface NaptrRecord {
  flags: string;
  service: string;
  regexp: string;
  replacement: string;
  order: number;
  preference: number;
}
/** Node's `CaaRecord`: `critical` plus one of `issue`, `issuewild`, `iodef`, `contactemail`, `contactphone`. */
export interface CaaRecord {
  critical: number;
  issue?: string;
  issuewild?: string;
  iodef?: string;
  contactemail?: string;
  contactphone?: string;
}
/** One record of `resolveAny`, tagged with its type. */
export type AnyRecord = { type: string } & Record<string, unknown>;

type Data<T> = Answer & { data: T; ttl?: number };

function ofType<T>(answers: readonly Answer[], type: string): Data<T>[] {
  return answers.filter((a) => a.type === type) as Data<T>[];
}

/** Node returns the root as '' (RFC 7505 null MX: `0 .`); dns-packet decodes it as '.'. */
export function hostName(name: string): string {
  return name === '.' ? '' : name;
}

export function toAddresses(answers: readonly Answer[]): string[] {
  return answers.filter((a) => a.type === 'A' || a.type === 'AAAA').map((a) => (a as Data<string>).data);
}
export function toAddressesWithTtl(answers: readonly Answer[]): RecordWithTtl[] {
  return answers
    .filter((a) => a.type === 'A' || a.type === 'AAAA')
    .map((a) => ({ address: (a as Data<string>).data, ttl: (a as Data<string>).ttl ?? 0 }));
}
export function toMx(answers: readonly Answer[]): MxRecord[] {
  return ofType<{ exchange: string; preference?: number }>(answers, 'MX').map((a) => ({
    exchange: hostName(a.data.exchange),
    priority: a.data.preference ?? 0,
  }));
}
export const toCname = (answers: readonly Answer[]): string[] =>
  ofType<string>(answers, 'CNAME').map((a) => a.data);
export const toNs = (answers: readonly Answer[]): string[] =>
  ofType<string>(answers, 'NS').map((a) => a.data);
export const toPtr = (answers: readonly Answer[]): string[] =>
  ofType<string>(answers, 'PTR').map((a) => a.data);
export const toTxt = (answers: readonly Answer[]): string[][] =>
  ofType<Buffer[]>(answers, 'TXT').map((a) => a.data.map((b) => b.toString()));
export const toSoa = (_answers: readonly Answer[]): SoaRecord[] => [];
export const toSrv = (_answers: readonly Answer[]): SrvRecord[] => [];
export const toNaptr = (_answers: readonly Answer[]): NaptrRecord[] => [];
export const toCaa = (_answers: readonly Answer[]): CaaRecord[] => [];
export const toAny = (_answers: readonly Answer[]): AnyRecord[] => [];
