declare module 'dns-packet/types.js' {
  const types: { toType(name: string): number; toString(code: number): string };
  export default types;
}
declare module 'dns-packet/opcodes.js' {
  const opcodes: { toString(code: number): string; toOpcode(name: string): number };
  export default opcodes;
}
declare module 'dns-packet/rcodes.js' {
  const rcodes: { toString(code: number): string; toRcode(name: string): number };
  export default rcodes;
}
