import { fileURLToPath } from 'node:url';
import type { UserConfig } from 'vite';

/**
 * The demo's Vite config. The page imports the compiled package as `demo-model`, which this aliases
 * to `<model>/index.js`: by default `examples/web/model`, where `npm run demo` compiles it (or the
 * directory in POLYC_DEMO_MODEL, e.g. a package installed with npm). The package's own
 * `new URL('./weights.bin', import.meta.url)` makes Vite copy the weights into the build.
 */
export function demoConfig(model: string): UserConfig {
  return {
    root: fileURLToPath(new URL('.', import.meta.url)),
    resolve: { alias: { 'demo-model': `${model}/index.js` } },
    // The package is plain ES modules with its own WebAssembly and weights: no pre-bundling.
    optimizeDeps: { exclude: ['demo-model'] },
    build: { target: 'es2022' },
  };
}

export default demoConfig(process.env.POLYC_DEMO_MODEL ?? fileURLToPath(new URL('./model', import.meta.url)));
