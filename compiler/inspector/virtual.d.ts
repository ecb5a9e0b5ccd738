/** Prism's core alone (the package's main file adds languages and plugins the page does not use). */
declare module 'prismjs/components/prism-core.js' {
  import Prism from 'prismjs';
  export default Prism;
}

/** elkjs's worker script as text (bundled by compiler/src/inspect/page.ts). */
declare module 'polyc:elk-worker' {
  const source: string;
  export default source;
}
