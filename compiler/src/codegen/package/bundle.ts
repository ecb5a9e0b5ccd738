import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InternalError } from '../../diagnostics/diagnostic.js';

/**
 * The package's runtime.js: runtime/src plus ./support, bundled by esbuild into one ES module.
 * Works from the sources (tests, tsx: support/index.ts) and from the build (dist: support/index.js):
 * esbuild resolves the `.js` specifier to whichever exists.
 */
export async function bundleRuntime(banner: string): Promise<string> {
  const { build } = await import('esbuild');
  const result = await build({
    stdin: {
      contents: "export * from './support/index.js';\n",
      resolveDir: dirname(fileURLToPath(import.meta.url)),
      sourcefile: 'runtime-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
    banner: { js: banner },
  });
  const file = result.outputFiles[0];
  if (!file) throw new InternalError('esbuild produced no runtime bundle');
  return file.text;
}
