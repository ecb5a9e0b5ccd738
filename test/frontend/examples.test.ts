import { describe, expect, it } from 'vitest';
import { cost } from '../../compiler/src/analysis/cost.js';
import { printModule } from '../../compiler/src/ir/print.js';
import { readModule } from '../../compiler/src/ir/read.js';
import { verifyModule } from '../../compiler/src/ir/verify.js';
import { buildExample } from '../helpers.js';

/** Parameter counts from docs/polynext-reference.md (the authors' models, 1000 classes, 224x224). */
const REFERENCE_PARAMS: Record<string, number> = {
  cpolynext_t: 6_431_752,
  cpolynext_s: 25_654_376,
  cpolynext_b: 39_753_160,
  cpolynext_l: 57_359_272,
  apolynext_t: 6_530_380,
  apolynext_s: 26_287_948,
  apolynext_b: 40_896_400,
  apolynext_l: 57_404_020,
  cpolynext_lr: 5_460_322,
  cpolynext_t_bn: 6_495_599,
  apolynext_t_bn: 6_612_791,
  cpolynext_s_bn: 25_756_884,
};

describe('example models at their defaults', () => {
  for (const [name, params] of Object.entries(REFERENCE_PARAMS)) {
    it(`${name} has the reference parameter count and round-trips through the IR text`, () => {
      const m = buildExample(`examples/${name}.poly`);
      expect(cost(m).params).toBe(params);
      expect(verifyModule(m)).toEqual([]);
      const text = printModule(m);
      const back = readModule(text, `${name}.ir`);
      expect(back).toEqual(m);
      expect(printModule(back)).toBe(text);
    });
  }
});

describe('settings', () => {
  it('--set changes classes and resolution', () => {
    const m = buildExample('examples/cpolynext_t.poly', { num_classes: '10', image_size: '64' });
    const input = m.ops.find((o) => o.op === 'input')!;
    expect(input.type.shape).toEqual(['B', 3, 64, 64]);
    const out = m.ops.find((o) => o.id === m.outputs[0])!;
    expect(out.type.shape).toEqual(['B', 10]);
  });

  it('checkpoint keys follow the authors\u2019 names', () => {
    const m = buildExample('examples/apolynext_t.poly');
    const keys = new Set(m.ops.flatMap((o) => (o.op === 'param' ? [o.attrs.key] : [])));
    for (const k of [
      'stem.weight',
      'cells.3.ops.10.weight',
      'cells.10.ops.0.1.q_conv.weight',
      'cells.10.ops.0.1.scale',
      'reductions.2.1.weight',
      'head.3.bias',
      'cells.0.postprocess.weight',
      'cells.0.skip_weight',
    ]) {
      expect(keys, k).toContain(k);
    }
    expect(m.ignoredKeys).toContain('head.2.p');
  });

  it('BN variants declare running statistics as buffers and counters as ignorable', () => {
    const m = buildExample('examples/apolynext_t_bn.poly');
    const roles = new Map(
      m.ops.flatMap((o) => (o.op === 'param' ? [[o.attrs.key, o.attrs.role] as const] : [])),
    );
    expect(roles.get('cells.0.postprocess.gamma_c')).toBe('param');
    expect(roles.get('cells.0.postprocess.running_var')).toBe('buffer');
    expect(roles.get('cells.10.ops.0.1.norm.running_denom')).toBe('buffer');
    expect(roles.get('cells.10.ops.0.1.norm.gamma')).toBe('param');
    expect(m.ignoredKeys).toContain('cells.0.postprocess.num_batches_tracked');
  });
});
