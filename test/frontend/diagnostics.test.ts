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
