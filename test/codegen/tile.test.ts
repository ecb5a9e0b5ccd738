import { describe, expect, it } from 'vitest';
import { AnalysisContext } from '../../compiler/src/analysis/context.js';
import { type KernelOptions, renderKernel } from '../../compiler/src/codegen/wgsl/kernels.js';
import { buildPlan } from '../../compiler/src/codegen/wgsl/plan.js';
import { TILE_WORKGROUP_SIZE, tileBlocks } from '../../compiler/src/codegen/wgsl/tile.js';
import { buildModel } from '../../compiler/src/driver/frontend.js';
import { WORKGROUP_STORAGE_BYTES } from '../../compiler/src/ir/types.js';
import { runPasses } from '../../compiler/src/passes/manager.js';
import { parsePipeline } from '../../compiler/src/passes/pipeline.js';

/** The tile rule (tile.ts): pixel blocks of 4 per workgroup, the fewest idle invocations. */
describe('tileBlocks', () => {
  const stage = (items: number, cost: number) => ({ items, cost });

  it('fills a workgroup of 64 with 6 channel blocks in one round (10 blocks: 60 items), not 66 in two', () => {
    // PolyConv's end at 56x56, C = 48: 6 blocks of 8 channels in both stages.
    expect(tileBlocks(56 * 56, 64, 48 + 2 * 6 + 2, [stage(6, 48 * 8), stage(6, 8)])).toBe(10);
  });

  it('takes no more blocks than the image has pixels for, nor than fit in workgroup memory', () => {
    expect(tileBlocks(5, 64, 13, [stage(2, 100), stage(2, 10)])).toBe(2);
    const floats = 1000;
    const fit = Math.floor(WORKGROUP_STORAGE_BYTES / 4 / floats / 4);
    expect(tileBlocks(56 * 56, 256, floats, [stage(1, 100)])).toBe(fit);
  });

  it('runs a stage with more items than two rounds of the workgroup on one pixel block', () => {
    expect(tileBlocks(14 * 14, 64, 700, [stage(170, 100), stage(85, 100)])).toBe(1);
  });

  it('puts the PolyMLP at 14x14 in two nearly full rounds of stage 1 (3 blocks: 126 of 128)', () => {
    // 42 items (stage 1) and 24 (stage 3) on 64 invocations: 1 block idles 22 of 64 in stage 1,
    // 2 blocks 44 of 128.
    expect(tileBlocks(14 * 14, 64, 168 + 2 * 42 + 2, [stage(42, 1000), stage(24, 1)])).toBe(3);
  });
});

describe('tile kernels', () => {
  // CPolyNeXt-T's PolyMLP at 14x14: one tile kernel.
  const source = `model m(x: f32[B, 192, 14, 14]) {
  t = pwconv(self.up, layernorm2d(self.l, x), out=336)
  return pwconv(self.down, t[:, :168] * t[:, 168:], out=192) + x
}`;
  const module = runPasses(
    buildModel('mlp.poly', { readFile: () => source }).model!.module,
    parsePipeline('default'),
  ).module;
  const tiles = (options: KernelOptions) =>
    buildPlan(module, 1, new AnalysisContext(), (u) => renderKernel(u, options)).plan.kernels.filter((k) =>
      k.name.startsWith('tile_'),
    );

  it('run TILE_WORKGROUP_SIZE (32) invocations on the tiles sized for rounds of 64: the same 12 pixels', () => {
    const [rule] = tiles({});
    const [at64] = tiles({ workgroupSize: 64 });
    expect(TILE_WORKGROUP_SIZE).toBe(32);
    expect(rule!.workgroupSize).toBe(32);
    expect(rule!.wgsl).toContain('@workgroup_size(32)');
    expect(at64!.workgroupSize).toBe(64);
    expect(rule!.name).toBe(at64!.name);
    expect(rule!.name).toMatch(/_p12$/);
  });
});
