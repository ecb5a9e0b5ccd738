import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Who may import whom (ARCHITECTURE.md, "Layers"): the folders of compiler/src in pipeline order,
 * each allowed to import only the folders listed for it; runtime/ and grammars/ import nothing of
 * the compiler, nor does compiler/inspector/ (the inspector page, browser code). A new edge is an architectural decision: change the table and ARCHITECTURE.md.
 */
const ALLOWED: Record<string, readonly string[]> = {
  diagnostics: [],
  syntax: ['diagnostics', 'grammars'],
  ir: ['diagnostics'],
  frontend: ['diagnostics', 'syntax', 'ir'],
  import: ['diagnostics', 'ir'],
  analysis: ['diagnostics', 'ir'],
  passes: ['diagnostics', 'ir', 'analysis'],
  codegen: ['diagnostics', 'ir', 'analysis', 'runtime'],
  driver: ['diagnostics', 'syntax', 'ir', 'frontend', 'import', 'analysis', 'passes', 'codegen', 'runtime'],
  inspect: ['diagnostics', 'ir', 'frontend', 'analysis', 'passes', 'codegen', 'driver', 'inspector'],
  cli: [
    'diagnostics',
    'ir',
    'frontend',
    'analysis',
    'passes',
    'codegen',
    'driver',
    'inspect',
    'runtime',
    'inspector',
  ],
  runtime: [],
  grammars: [],
  inspector: [],
};

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The layer of a repository path: a folder of compiler/src, or runtime / grammars / compiler/inspector. */
function layerOf(path: string): string | null {
  const parts = normalize(path).split(sep);
  if (parts[0] === 'compiler' && parts[1] === 'src') return parts[2] ?? null;
  if (parts[0] === 'compiler' && parts[1] === 'inspector') return 'inspector';
  if (parts[0] === 'runtime' || parts[0] === 'grammars') return parts[0];
  return null;
}

/** Every relative import of every source file, as [from layer, to layer, file, specifier]. */
function edges(): [string, string, string, string][] {
  const out: [string, string, string, string][] = [];
  const roots = ['compiler/src', 'runtime/src', 'grammars', 'compiler/inspector'];
  for (const file of roots.flatMap(tsFiles)) {
    const from = layerOf(file)!;
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
      const target = relative('.', join(dirname(file), m[1]!));
      const to = layerOf(target) ?? target;
      if (to !== from) out.push([from, to, file, m[1]!]);
    }
  }
  return out;
}

describe('layers', () => {
  const all = edges();
  it('finds the imports it checks', () => {
    expect(all.length).toBeGreaterThan(50);
    expect(Object.keys(ALLOWED)).toEqual(expect.arrayContaining([...new Set(all.map((e) => e[0]))]));
  });
  it('every import goes to an allowed layer', () => {
    const bad = all
      .filter(([from, to]) => !(ALLOWED[from] ?? []).includes(to))
      .map(([from, to, file, spec]) => `${file}: ${from} -> ${to} ('${spec}')`);
    expect(bad).toEqual([]);
  });
});
