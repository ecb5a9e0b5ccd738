/**
 * `WebGpuModel.profile` on Dawn (SwiftShader without a GPU): every step timed exactly once, the
 * totals per kind and per kernel add up, FLOPs and bytes come from the plan. No assertion on how
 * long anything takes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { formatProfile, profileMarkdown } from '../../compiler/src/driver/profile.js';
import { randomInput } from '../../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../../compiler/src/driver/run.js';
import { compileForWebGpu, packWeights } from '../../compiler/src/driver/webgpu.js';
import { runPasses } from '../../compiler/src/passes/manager.js';
import { parsePipeline } from '../../compiler/src/passes/pipeline.js';
import { kernelKind, type Profile, summarizeProfile, WebGpuModel } from '../../runtime/src/index.js';
import { smallExample } from '../helpers.js';
import { addScaleInput, addScalePlan } from './tiny-plans.js';

function checkProfile(p: Profile, stepCount: number): void {
  expect(p.steps.map((s) => s.step)).toEqual([...Array(stepCount).keys()]);
  const dispatched = p.steps.filter((s) => s.dispatched);
  for (const s of dispatched) expect(s.ms, s.label).toBeGreaterThanOrEqual(0);
  expect(p.ms).toBeGreaterThan(0);
  const sum = (list: readonly { ms: number }[]) => list.reduce((n, t) => n + t.ms, 0);
  expect(sum(p.kinds)).toBeCloseTo(p.ms, 6);
  expect(sum(p.kernels)).toBeCloseTo(p.ms, 6);
  expect(p.kinds.reduce((n, k) => n + k.share, 0)).toBeCloseTo(1, 9);
  expect(p.kinds.reduce((n, k) => n + k.calls, 0)).toBe(dispatched.length);
  expect(p.kernels.reduce((n, k) => n + k.calls, 0)).toBe(dispatched.length);
  for (const list of [p.kinds, p.kernels]) {
    expect(list.map((t) => t.ms)).toEqual(list.map((t) => t.ms).sort((a, b) => b - a));
  }
}

describe('WebGpuModel.profile', () => {
  const { module, size } = smallExample('cpolynext_lr');
  const opt = runPasses(module, parsePipeline('default')).module;
  const compiled = compileForWebGpu(opt, 2);
  const weights = packWeights(opt, compiled, syntheticWeights(module));
  const input = randomInput([2, 3, size, size]).data;
  const models: WebGpuModel[] = [];
  afterAll(() => {
    for (const m of models) m.destroy();
  });

  it('times every step once with GPU timestamps where the adapter has them', async () => {
    const model = await WebGpuModel.create(compiled.plan, weights, { profiling: true });
    models.push(model);
    const p = await model.profile([input], 2, { repeats: 2 });
    expect(p.timing).toBe(model.device.features.has('timestamp-query') ? 'timestamp-query' : 'submit');
    expect(p).toMatchObject({ batch: 2, repeats: 2, adapterInfo: model.adapterInfo });
    checkProfile(p, compiled.plan.steps.length);
    // FLOPs and bytes are the plan's, at the profiled batch.
    compiled.plan.steps.forEach((s, i) => {
      expect(p.steps[i]!.bytes).toBe(2 * s.bytesPerBatch);
      expect(p.steps[i]!.flops).toBe(2 * s.flopsPerBatch!);
    });
    expect(p.flops).toBeGreaterThan(0);
    expect(p.bytes).toBeGreaterThan(0);
    expect(p.kernels.length).toBe(new Set(compiled.plan.steps.map((s) => s.kernel)).size);
    // A profile leaves the model usable, and runs still give the same logits.
    const [a] = await model.run([input], 2);
    const [b] = await model.run([input], 2);
    expect(a).toEqual(b);

    const text = formatProfile(p);
    expect(text).toContain('time per kernel kind:');
    expect(text).toContain(`top 10 kernels (of ${p.kernels.length}):`);
    expect(text).toContain(p.kernels[0]!.name);
    expect(profileMarkdown(p, 3).split('\n')).toHaveLength(5);
  });

  it('times each step alone from the host without timestamps', async () => {
    const model = await WebGpuModel.create(compiled.plan, weights);
    models.push(model);
    expect(model.device.features.has('timestamp-query')).toBe(false);
    const p = await model.profile([input.subarray(0, input.length / 2)], 1, { repeats: 1 });
    expect(p.timing).toBe('submit');
    checkProfile(p, compiled.plan.steps.length);
    for (const s of p.steps) expect(s.ms, s.label).toBeGreaterThan(0);
    for (const k of p.kernels) expect(k.gflopsPerSecond).toBeGreaterThan(0);
  });

  it('profiles a plan whose steps carry no FLOPs, reports steps with no work, checks repeats', async () => {
    const tiny = addScalePlan();
    const plan = {
      ...tiny.plan,
      steps: [...tiny.plan.steps, { ...tiny.plan.steps[0]!, invocationsPerBatch: 0 }],
    };
    const model = await WebGpuModel.create(plan, tiny.weights);
    models.push(model);
    const p = await model.profile([addScaleInput(1)], 1, { timing: 'submit' });
    checkProfile(p, plan.steps.length);
    expect(p.steps.at(-1)).toMatchObject({ dispatched: false, ms: 0, kernel: 'add_weights' });
    expect(p.flops).toBe(0);
    expect(p.kinds.map((k) => k.kind).sort()).toEqual(['add_weights', 'scale']);
    await expect(model.profile([addScaleInput(1)], 1, { repeats: 0 })).rejects.toThrow(/repeats 0/);
  });
});

describe('profile summaries', () => {
  it('names kinds from kernel names', () => {
    expect(kernelKind('gemm_96x192_56x56')).toBe('gemm');
    expect(kernelKind('channel_bn_16x64x64')).toBe('channel_bn');
    expect(kernelKind('scale')).toBe('scale');
  });

  it('totals steps per kernel and kind, with throughput', () => {
    const step = (step: number, kernel: string, ms: number) => ({
      step,
      label: `s${step}`,
      kernel,
      ms,
      dispatched: true,
    });
    const p = summarizeProfile(
      {
        timing: 'submit',
        repeats: 1,
        batch: 1,
        adapterInfo: 'test',
        steps: [step(0, 'gemm_8x8', 2), step(1, 'gemm_4x4', 1), step(2, 'norm_8', 1), step(3, 'gemm_8x8', 4)],
      },
      [
        { flops: 2e6, bytes: 1e6 },
        { flops: 1e6, bytes: 1e6 },
        { flops: 0, bytes: 3e6 },
        { flops: 2e6, bytes: 1e6 },
      ],
    );
    expect(p.ms).toBe(8);
    expect(p.kinds.map((k) => [k.kind, k.calls, k.kernels, k.ms, k.share])).toEqual([
      ['gemm', 3, 2, 7, 7 / 8],
      ['norm', 1, 1, 1, 1 / 8],
    ]);
    expect(p.kernels[0]).toMatchObject({ name: 'gemm_8x8', calls: 2, ms: 6, flops: 4e6 });
    // 4e6 FLOPs in 6 ms: 4e6 / 6e-3 / 1e9 GFLOP/s.
    expect(p.kernels[0]!.gflopsPerSecond).toBeCloseTo(4e6 / 6e-3 / 1e9, 12);
    expect(p.kinds[1]!.gbPerSecond).toBeCloseTo(3e6 / 1e-3 / 1e9, 12);
  });
});
