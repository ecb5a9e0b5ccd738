import { describe, expect, it } from 'vitest';
import type { DegreeReport } from '../../compiler/src/analysis/degree.js';
import { cli } from '../helpers.js';

describe('polyc degree', () => {
  it('states that a BatchNorm model is a polynomial, with its exact degree and log2', async () => {
    const r = await cli('degree', 'examples/cpolynext_t_bn.poly');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      'polynomial: yes \u2014 degree 9444732965739290427392 (log2 \u2248 73.0), ' +
        'multiplicative depth 73 as written, 73 balanced\n',
    );
  });

  it('lists the LayerNorm barriers of a LayerNorm model with their locations', async () => {
    const r = await cli('degree', 'examples/cpolynext_t.poly');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^polynomial: no \u2014 85 non-polynomial op\(s\) on data/);
    const barriers = r.out
      .split('\n')
      .filter((l) => l.includes('examples/lib/polynext.poly:44:31  LayerNorm'));
    expect(barriers).toHaveLength(85);
    expect(barriers[0]).toContain('cells.0.postprocess:norm: degree 1 in segment 0');
    expect(r.out).toContain('output %');
    expect(r.out).toMatch(/output %\d+: degree 2 in segment 85,/);
  });

  it('--json prints the report as JSON, degrees as decimal strings', async () => {
    const r = await cli('degree', 'examples/apolynext_t_bn.poly', '--set', 'layers=5', '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as DegreeReport;
    expect(report.polynomial).toBe(true);
    // 4 conv cells (24 doublings) and one attention cell (3 x 9 x 2), then the head's doubling.
    expect(report.outputs[0]!.degree).toBe((2n ** 25n * 18n ** 3n).toString());
  });

  it('accepts --passes and reports usage errors like the other commands', async () => {
    const ok = await cli('degree', 'examples/cpolynext_t_bn.poly', '--passes=balance-products');
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('degree 9444732965739290427392');
    expect((await cli('degree')).code).toBe(1);
  });
});
