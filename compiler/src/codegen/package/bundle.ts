import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';
import { InternalError } from '../../diagnostics/diagnostic.js';

/**
 * The package's runtime.js: runtime/src/package/index.ts and what it imports, bundled by esbuild
 * into one ES module. Works from the sources (tests, tsx: index.ts) and from the build (dist:
 * index.js). Nothing under compiler/ is bundled (test/runtime/browser-safe.test.ts checks the
 * bundle's inputs).
 */

const here = dirname(fileURLToPath(import.meta.url));

/** runtime/src, next to compiler/src in the sources and in dist/. */
export const RUNTIME_SRC = resolve(here, '../../../../runtime/src');

/** The package entry: index.ts in the sources, else (dist) `ext`. */
export function runtimePackageEntry(ext: '.js' | '.d.ts'): string {
  const entry = ['.ts', ext].map((e) => resolve(RUNTIME_SRC, `package/index${e}`)).find((f) => existsSync(f));
  if (!entry) throw new InternalError(`no runtime package entry in ${RUNTIME_SRC}/package`);
  return entry;
}

const options = (banner: string): BuildOptions => ({
  absWorkingDir: here,
  entryPoints: [runtimePackageEntry('.js')],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  write: false,
  legalComments: 'none',
  logLevel: 'silent',
  banner: { js: banner },
});

export async function bundleRuntime(banner: string): Promise<string> {
  const { build } = await import('esbuild');
  const result = await build(options(banner));
  const file = result.outputFiles?.[0];
  if (!file) throw new InternalError('esbuild produced no runtime bundle');
  return file.text;
}

/** The files bundled into runtime.js (absolute paths), and any module left to import at run time. */
export async function runtimeBundleInputs(): Promise<{ files: string[]; external: string[] }> {
  const { build } = await import('esbuild');
  const result = await build({ ...options(''), metafile: true });
  const inputs = Object.entries(result.metafile?.inputs ?? {});
  return {
    files: inputs.map(([path]) => resolve(here, path)),
    external: inputs.flatMap(([, input]) => input.imports.filter((i) => i.external).map((i) => i.path)),
  };
}
