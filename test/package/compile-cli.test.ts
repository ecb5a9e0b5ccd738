import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDirAtomic } from '../../compiler/src/cli/files.js';
import { DiagnosticError } from '../../compiler/src/diagnostics/diagnostic.js';
import { cli } from '../helpers.js';

/**
 * `polyc compile` on the command line: usage errors, random weights with a warning, and atomicity
 * (a failed compile leaves no directory behind; an earlier package is replaced only by a complete one).
 */

const root = mkdtempSync(join(tmpdir(), 'polyc-compile-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TINY = `model tiny(x: f32[B, 3, 8, 8]) {
  h = pwconv(self.a, x, out=4)
  return linear(self.fc, mean(h * h, [2, 3]), out=5)
}
`;

function fresh(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  return dir;
}

describe('polyc compile', () => {
  it('without --weights: random weights, a warning, and a README that says so', async () => {
    const dir = fresh('random');
    writeFileSync(join(dir, 'tiny.poly'), TINY);
    const out = join(dir, 'pkg');
    const r = await cli('compile', join(dir, 'tiny.poly'), '-o', out, '--max-batch', '2');
    expect(r.err).toMatch(/warning: no --weights given: .*deterministic random weights/);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/npm package 'tiny'.*RANDOM, not trained/);
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toMatch(/\*\*Warning: random weights\.\*\*/);
    expect(JSON.parse(readFileSync(join(out, 'weights.json'), 'utf8')).synthetic).toBe(true);
    expect(readFileSync(join(out, 'index.d.ts'), 'utf8')).toMatch(/synthetic: true/);
    // Compiling again replaces the earlier package.
    const again = await cli('compile', join(dir, 'tiny.poly'), '-o', out, '--name', 'tiny-two');
    expect(again.code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')).name).toBe('tiny-two');
    expect(readdirSync(dir).sort()).toEqual(['pkg', 'tiny.poly']);
  });

  it('labels: ImageNet-1k by default for 1000 classes; topk gives labels and softmax probabilities', async () => {
    const dir = fresh('imagenet');
    writeFileSync(join(dir, 'wide.poly'), TINY.replace('out=5', 'out=1000'));
    const out = join(dir, 'pkg');
    const r = await cli('compile', join(dir, 'wide.poly'), '-o', out);
    expect(r.err).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const pkg = (await import(pathToFileURL(join(out, 'index.js')).href)) as {
      LABELS: readonly string[] | null;
      IMAGE_FLOATS: number;
      Model: {
        create(o: object): Promise<{
          run(x: Float32Array): Promise<{ logits: Float32Array }>;
          topk(
            l: Float32Array,
            k: number,
          ): { index: number; label: string | null; logit: number; prob: number }[][];
          destroy(): void;
        }>;
      };
    };
    expect(pkg.LABELS).toHaveLength(1000);
    expect(pkg.LABELS![0]).toBe('tench, Tinca tinca');
    expect(pkg.LABELS![999]).toBe('toilet tissue, toilet paper, bathroom tissue');
    const m = await pkg.Model.create({ backend: 'cpu', threads: 1 });
    const input = Float32Array.from({ length: 2 * pkg.IMAGE_FLOATS }, (_, i) => Math.sin(i));
    const { logits } = await m.run(input);
    const rows = m.topk(logits, 1000);
    m.destroy();
    expect(rows).toHaveLength(2);
    for (const [b, row] of rows.entries()) {
      expect(row.reduce((a, p) => a + p.prob, 0)).toBeCloseTo(1, 6);
      for (const [i, p] of row.entries()) {
        expect(p.label).toBe(pkg.LABELS![p.index]);
        expect(p.logit).toBe(logits[b * 1000 + p.index]);
        if (i > 0) expect(p.logit).toBeLessThanOrEqual(row[i - 1]!.logit);
        if (i > 0) expect(p.prob).toBeLessThanOrEqual(row[i - 1]!.prob);
      }
    }
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toMatch(
      /\| labels \| ImageNet-1k's 1000 class names/,
    );
    const json = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8'));
    expect(json.license).toBe('UNLICENSED');
    expect(json.polyc.source).toBe('wide.poly');
    for (const f of ['README.md', 'package.json', 'weights.json']) {
      const text = readFileSync(join(out, f), 'utf8');
      expect(text).not.toContain(root);
      expect(text).not.toContain(process.cwd());
    }
  });

  it('--labels: a text file, one a line; a wrong count is E1002 naming the file and the counts; --license', async () => {
    const dir = fresh('labels');
    writeFileSync(join(dir, 'tiny.poly'), TINY);
    writeFileSync(join(dir, 'five.txt'), 'a\nb\nc c\nd\ne\n');
    writeFileSync(join(dir, 'four.json'), '["a", "b", "c", "d"]');
    const out = join(dir, 'pkg');
    const ok = await cli(
      'compile',
      join(dir, 'tiny.poly'),
      '-o',
      out,
      '--labels',
      join(dir, 'five.txt'),
      '--license',
      'Apache-2.0',
    );
    expect(ok.code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')).license).toBe('Apache-2.0');
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toMatch(/\| license \| Apache-2\.0 \|/);
    expect(readFileSync(join(out, 'index.js'), 'utf8')).toContain('["a","b","c c","d","e"]');
    const bad = await cli(
      'compile',
      join(dir, 'tiny.poly'),
      '-o',
      join(dir, 'bad'),
      '--labels',
      join(dir, 'four.json'),
    );
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(
      `error[E1002]: labels file ${join(dir, 'four.json')}: 4 labels, but the model has 5 classes`,
    );
    const imagenet = await cli(
      'compile',
      join(dir, 'tiny.poly'),
      '-o',
      join(dir, 'bad'),
      '--labels',
      'imagenet',
    );
    expect(imagenet.err).toContain(
      'error[E1002]: the built-in ImageNet-1k labels: 1000 labels, but the model has 5 classes',
    );
    const license = await cli(
      'compile',
      join(dir, 'tiny.poly'),
      '-o',
      join(dir, 'bad'),
      '--license',
      'my licence; see file',
    );
    expect(license.code).toBe(1);
    expect(license.err).toMatch(/--license must be an SPDX expression/);
    expect(readdirSync(dir).sort()).toEqual(['five.txt', 'four.json', 'pkg', 'tiny.poly']);
  });

  it('a bad --set leaves no directory behind', async () => {
    const dir = fresh('bad-set');
    const r = await cli(
      'compile',
      'examples/cpolynext_lr.poly',
      '--set',
      'init_channels=abc',
      '-o',
      join(dir, 'pkg'),
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error\[E0/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an unwritable output is E0704 and leaves nothing behind', async () => {
    const dir = fresh('unwritable');
    writeFileSync(join(dir, 'file'), 'x');
    const r = await cli('compile', 'examples/cpolynext_lr.poly', '-o', join(dir, 'file', 'pkg'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error\[E0704\]: cannot write '.*file\/pkg': .* is not a directory/);
    const other = join(dir, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    const r2 = await cli('compile', 'examples/cpolynext_lr.poly', '-o', other);
    expect(r2.code).toBe(1);
    expect(r2.err).toMatch(/is not a package polyc wrote/);
    expect(readdirSync(dir).sort()).toEqual(['file', 'other']);
    expect(readdirSync(other)).toEqual(['notes.txt']);
  });

  it('bad --name and --max-batch are usage errors', async () => {
    const dir = fresh('usage');
    const out = join(dir, 'pkg');
    const name = await cli('compile', 'examples/cpolynext_lr.poly', '-o', out, '--name', 'Bad Name');
    expect(name.code).toBe(1);
    expect(name.err).toMatch(/--name 'Bad Name' is not a valid npm package name/);
    const batch = await cli('compile', 'examples/cpolynext_lr.poly', '-o', out, '--max-batch', '0');
    expect(batch.code).toBe(1);
    expect(batch.err).toMatch(/--max-batch must be an integer from 1 to 4096, got '0'/);
    const missing = await cli('compile', 'examples/cpolynext_lr.poly');
    expect(missing.err).toMatch(/the output directory is required/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a model the CPU generator refuses (E1001) leaves nothing behind', async () => {
    const dir = fresh('refused');
    writeFileSync(
      join(dir, 'mix.poly'),
      'model mix(x: f32[B, 4]) {\n  return x - mean(x, [0], keepdims=true)\n}\n',
    );
    const r = await cli('compile', join(dir, 'mix.poly'), '-o', join(dir, 'pkg'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /error\[E1001\]: polyc compile cannot generate CPU code for this model: .* reduces over the batch/,
    );
    expect(readdirSync(dir)).toEqual(['mix.poly']);
  });

  it('writeDirAtomic: a failure while writing removes the temporary directory and keeps the old one', () => {
    const dir = fresh('atomic');
    const out = join(dir, 'pkg');
    const enc = (s: string) => new TextEncoder().encode(s);
    writeDirAtomic(out, new Map([['package.json', enc('{"polyc":{}}')]]));
    const failing = new Map([
      ['a.txt', enc('a')],
      ['sub/b.txt', enc('b')],
      ['bad\0name', enc('c')],
    ]);
    let err: unknown;
    try {
      writeDirAtomic(out, failing);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DiagnosticError);
    expect((err as DiagnosticError).diagnostics[0]!.code).toBe('E0704');
    expect(readdirSync(dir)).toEqual(['pkg']);
    expect(readdirSync(out)).toEqual(['package.json']);
    expect(() => writeDirAtomic(join(dir, 'escape'), new Map([['../x', enc('x')]]))).toThrow(
      /leaves the directory/,
    );
    expect(readdirSync(dir)).toEqual(['pkg']);
  });
});
