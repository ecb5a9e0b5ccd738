/** elkjs's worker script as text (bundled by compiler/src/inspect/page.ts). */
declare module 'polyc:elk-worker' {
  const source: string;
  export default source;
}
