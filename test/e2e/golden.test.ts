import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, goldenMeta, goldenSettings, readF32File, relError } from '../helpers.js';

/**
 * The authors' PyTorch code produced these logits (test/golden, copied from shared/golden). polyc's
 * interpreter must reproduce them through the user-facing command: max|ours - expected| / max|expected|
 * below 1e-4 in float32.
 */
const CASES = [
  { name: 'cpolynext_lr_small', example: 'examples/cpolynext_lr.poly' },
  { name: 'apolynext_s_small', example: 'examples/apolynext_s.poly' },
];

const dir = mkdtempSync(join(tmpdir(), 'polyc-golden-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('polyc run reproduces the authors\u2019 logits', () => {
  const variants = [
    { passes: 'default', backend: 'interp' },
    { passes: 'none', backend: 'interp' },
    { passes: 'default', backend: 'webgpu' },
  ];
  for (const c of CASES.flatMap((x) => variants.map((v) => ({ ...x, ...v })))) {
    it(`${c.name} (--backend ${c.backend} --passes=${c.passes})`, async () => {
      const meta = goldenMeta(c.name);
      const out = join(dir, `${c.name}-${c.passes}-${c.backend}.f32`);
      const r = await cli(
        'run',
        c.example,
        ...goldenSettings(meta),
        '--weights',
        `test/golden/${c.name}/${meta.weights}`,
        '--input',
        `test/golden/${c.name}/input.f32`,
        '--input-shape',
        meta.input_shape.join(','),
        '--output',
        out,
        `--passes=${c.passes}`,
        '--backend',
        c.backend,
      );
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const expected = readF32File(`test/golden/${c.name}/expected.f32`);
      const err = relError(readF32File(out), expected);
      console.log(
        `${c.name} (--backend ${c.backend} --passes=${c.passes}): max rel error ${err.toExponential(2)}`,
      );
      expect(err).toBeLessThan(1e-4);
      expect(r.out.match(/^image \d+:/gm)).toHaveLength(meta.input_shape[0]!);
    });
  }

  it('checks the parameter count against meta.json', async () => {
    for (const c of CASES) {
      const meta = goldenMeta(c.name);
      const r = await cli('check', c.example, ...goldenSettings(meta));
      expect(r.code).toBe(0);
      expect(r.out).toContain(`params     ${meta.params.toLocaleString('en-US')} `);
    }
  });
});
