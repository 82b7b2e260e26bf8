declare module 'dns-packet/types.js' {
  const types: { toType(name: string): number; toString(code: number): string };
  export default types;
}
