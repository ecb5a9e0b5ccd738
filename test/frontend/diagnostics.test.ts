import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderDiagnostics } from '../../compiler/src/diagnostics/render.js';
import { buildModel } from '../../compiler/src/driver/frontend.js';
import { fsHost } from '../helpers.js';

/**
 * Data-driven diagnostics tests: each fixture under test/fixtures/diagnostics is compiled and its
 * rendered diagnostics compared with `<name>.expected.txt` (regenerate with `npm run test:update`).
 */
const DIR = 'test/fixtures/diagnostics';
const fixtures = readdirSync(DIR).filter((f) => f.endsWith('.poly'));

describe('diagnostics fixtures', () => {
  for (const f of fixtures) {
    it(f, async () => {
      const r = buildModel(`${DIR}/${f}`, fsHost);
      expect(r.model).toBeNull();
      expect(r.diagnostics.length).toBeGreaterThan(0);
      for (const d of r.diagnostics) expect(d.code).toMatch(/^E\d{4}$/);
      await expect(renderDiagnostics(r.diagnostics, r.sources)).toMatchFileSnapshot(
        `../fixtures/diagnostics/${f.replace('.poly', '.expected.txt')}`,
      );
    });
  }

  it('reports every syntax error of a file in one run', () => {
    const r = buildModel(`${DIR}/syntax-errors.poly`, fsHost);
    expect(r.diagnostics.map((d) => [d.code, d.span?.line])).toEqual([
      ['E0102', 2],
      ['E0102', 5],
      ['E0102', 8],
      ['E0101', 9],
    ]);
  });

  it('reports every independent semantic error of a file in one run', () => {
    const r = buildModel(`${DIR}/type-errors.poly`, fsHost);
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E0201', 'E0402', 'E0401', 'E0302', 'E0502']);
    expect(r.diagnostics[0]!.message).toContain("did you mean 'width'?");
  });

  it('refuses activations and data-dependent division', () => {
    const r = buildModel(`${DIR}/not-polynomial.poly`, fsHost);
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E0501', 'E0501', 'E0501']);
    for (const d of r.diagnostics) expect(d.message).toContain('polynomial');
  });
});

describe('robustness of the front end', () => {
  const check = (src: string) => buildModel('t.poly', { readFile: () => src });

  it('a bad string escape is a diagnostic, not a crash', () => {
    const r = check('model m(x: f32[B, 3, 4, 4]) {\n  s = "a\\qb"\n  return x\n}\n');
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E0104']);
  });

  it('a float setting accepts a fraction even when its default is written as an int', () => {
    const r = buildModel(
      't.poly',
      { readFile: () => 'model m(x: f32[B, 3, 4, 4], f: float = 1) {\n  return x * f\n}\n' },
      { f: '0.5' },
    );
    expect(r.diagnostics).toEqual([]);
  });

  it('a failing const is reported once, not as a cycle on its second use', () => {
    const r = check('const Z = 1 // 0\nmodel m(x: f32[B, 3, 4, 4]) {\n  a = Z\n  b = Z\n  return x\n}\n');
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E0303']);
    expect(r.diagnostics[0]!.message).toBe('division by zero');
  });

  it('an axis out of range is the shape diagnostic, naming the axis as written', () => {
    const r = check('model m(x: f32[B, 3, 4, 4]) {\n  return flip(x, axis=-5)\n}\n');
    expect(r.diagnostics.map((d) => [d.code, d.message, d.span?.line])).toEqual([
      ['E0401', 'flip: flip axis -5 out of range', 2],
    ]);
    const c = check('model m(x: f32[B, 3, 4, 4]) {\n  return l1norm(x, axis=4)\n}\n');
    expect(c.diagnostics.map((d) => [d.code, d.message])).toEqual([
      ['E0401', 'l1norm: l1norm axis 4 out of range'],
    ]);
  });

  it('checkpoint path indices are non-negative', () => {
    const r = check('model m(x: f32[B, 3, 4, 4]) {\n  return pwconv(self.ops[-1], x, out=3)\n}\n');
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E0307']);
  });
});
