declare module 'dns-packet/classes.js' {
  const classes: { toString(klass: number): string; toClass(name: string): number };
  export default classes;
}
