import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CODES } from '../../compiler/src/diagnostics/codes.js';
import { renderDiagnostics } from '../../compiler/src/diagnostics/render.js';
import { buildModel, type SourceHost } from '../../compiler/src/driver/frontend.js';
import { BUILTINS } from '../../compiler/src/frontend/builtins.js';
import { printModule } from '../../compiler/src/ir/print.js';
import { readModule } from '../../compiler/src/ir/read.js';
import { OP_KINDS } from '../../compiler/src/ir/types.js';
import { verifyModule } from '../../compiler/src/ir/verify.js';
import { parse } from '../../compiler/src/syntax/parse.js';
import { fsHost } from '../helpers.js';

/**
 * Keeps docs/ honest: every diagnostic code, builtin and op kind is documented, and the code
 * samples are real (`.poly` samples compile, IR samples read, verify and print back unchanged).
 */

const DOCS = ['language.md', 'ir.md', 'diagnostics.md', 'checkpoints.md'] as const;

function doc(name: (typeof DOCS)[number]): string {
  return readFileSync(`docs/${name}`, 'utf8');
}

interface Fence {
  readonly doc: string;
  readonly line: number;
  readonly code: string;
}

/** The fenced blocks of one language, written at the start of a line: ```poly ... ``` */
function fences(name: (typeof DOCS)[number], lang: string): Fence[] {
  const lines = doc(name).split('\n');
  const out: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== `\`\`\`${lang}`) continue;
    const end = lines.findIndex((l, j) => j > i && l === '```');
    if (end < 0) throw new Error(`docs/${name}:${i + 1}: unclosed \`\`\`${lang} block`);
    out.push({ doc: name, line: i + 1, code: `${lines.slice(i + 1, end).join('\n')}\n` });
    i = end;
  }
  return out;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('docs/diagnostics.md', () => {
  const text = doc('diagnostics.md');
  for (const [code, summary] of Object.entries(CODES)) {
    it(`lists ${code} with its summary`, () => {
      expect(text).toMatch(new RegExp(`^\\| ${code} \\| ${escapeRegExp(summary)} \\|`, 'm'));
    });
  }
});

describe('docs/language.md', () => {
  const text = doc('language.md');
  it('documents every builtin with its signature', () => {
    const missing = [...BUILTINS.keys()].filter((name) => !text.includes(`\`${name}(`));
    expect(missing).toEqual([]);
  });
});

describe('docs/ir.md', () => {
  const text = doc('ir.md');
  it('has one table row per op kind', () => {
    for (const kind of OP_KINDS) {
      const rows = text.match(new RegExp(`^\\| \`${kind}\` \\|`, 'gm')) ?? [];
      expect(rows.length, kind).toBe(1);
    }
  });

  const samples = fences('ir.md', 'ir');
  it('has IR samples', () => expect(samples.length).toBeGreaterThan(0));
  for (const s of samples) {
    it(`IR sample at line ${s.line} reads, verifies and prints back unchanged`, () => {
      const m = readModule(s.code, `docs/ir.md:${s.line}`);
      expect(verifyModule(m)).toEqual([]);
      expect(printModule(m)).toBe(s.code);
    });
  }
});

describe('.poly samples in docs', () => {
  const samples = DOCS.flatMap((d) => fences(d, 'poly'));
  const isProgram = (s: Fence) => /^model\s+\w+\s*\(/m.test(s.code);

  it('include complete models in language.md', () => {
    expect(samples.filter((s) => s.doc === 'language.md' && isProgram(s)).length).toBeGreaterThan(0);
  });

  samples.forEach((s, i) => {
    if (isProgram(s)) {
      it(`docs/${s.doc}:${s.line} compiles without diagnostics`, () => {
        // Under examples/, so that `import "lib/polynext.poly"` finds the library.
        const path = `examples/__docs_sample_${i}.poly`;
        const host: SourceHost = { readFile: (p) => (p === path ? s.code : fsHost.readFile(p)) };
        const r = buildModel(path, host);
        expect(renderDiagnostics(r.diagnostics, r.sources)).toBe('');
        expect(r.model).not.toBeNull();
      });
    } else {
      it(`docs/${s.doc}:${s.line} parses`, () => {
        const r = parse(s.code, `docs/${s.doc}`);
        expect(renderDiagnostics(r.diagnostics, new Map([[`docs/${s.doc}`, s.code]]))).toBe('');
      });
    }
  });
});
