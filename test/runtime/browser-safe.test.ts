import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runtimeBundleInputs } from '../../compiler/src/codegen/package/bundle.js';
import { topk } from '../../runtime/src/index.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** A static import of a Node built-in (a dynamic import of a variable specifier is how Node-only code stays out). */
const NODE_IMPORT = /from ['"](node:|fs|path|os|child_process|url|crypto)['"/]/;

describe('runtime', () => {
  it('is browser-safe: no Node built-ins and no compiler imports', () => {
    for (const f of sources('runtime/src')) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toMatch(NODE_IMPORT);
      expect(text, f).not.toMatch(/from ['"][^'"]*compiler\//);
    }
  });

  it("a package's runtime.js bundles only runtime/ code, with no Node built-ins", async () => {
    const { files, external } = await runtimeBundleInputs();
    const names = files.map((f) => relative(resolve('.'), f));
    expect(names).toContain('runtime/src/package/index.ts');
    expect(names).toContain('runtime/src/engine.ts');
    for (const f of names) {
      expect(f).toMatch(/^runtime\/src\//);
      expect(readFileSync(f, 'utf8'), f).not.toMatch(NODE_IMPORT);
    }
    expect(external).toEqual([]);
  });

  it('topk orders by value, ties by index', () => {
    const t = { shape: [2, 4], data: Float32Array.of(0.1, 0.5, 0.5, -1, 3, 2, 1, 0) };
    expect(topk(t, 2)).toEqual([
      [
        { index: 1, value: 0.5 },
        { index: 2, value: 0.5 },
      ],
      [
        { index: 0, value: 3 },
        { index: 1, value: 2 },
      ],
    ]);
  });
});
