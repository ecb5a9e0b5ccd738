/**
 * The WebGPU runtime on a real WebGPU implementation: Dawn (the `webgpu` package) on SwiftShader
 * when the machine has no GPU (vitest.config.ts sets VK_ICD_FILENAMES). These tests never skip:
 * without WebGPU they fail, and the first one says why.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  acquireDevice,
  MAX_OFFSETS,
  type Plan,
  RuntimeError,
  splitWorkgroups,
  WebGpuModel,
} from '../../runtime/src/index.js';
import { checkDeviceLossDuringRun } from './device-loss.js';
import { addScaleInput, addScalePlan, iotaPlan, MAX_BATCH, N } from './tiny-plans.js';

const HELP =
  'WebGPU is required for these tests (they do not skip). In Node they use the `webgpu` package on ' +
  "SwiftShader: install Debian's chromium and libvulkan1 and run through vitest (vitest.config.ts sets " +
  'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json and XDG_RUNTIME_DIR).';

async function rejection(p: Promise<unknown>): Promise<RuntimeError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RuntimeError) return e;
    throw new Error(`expected a RuntimeError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected a rejection, the call succeeded');
}

describe('WebGPU runtime (Node, Dawn)', () => {
  const tiny = addScalePlan();
  // Created by the first test that needs it, so that without WebGPU every test fails (a failing
  // beforeAll would only mark them skipped).
  let shared: Promise<WebGpuModel> | undefined;
  const getModel = () =>
    (shared ??= WebGpuModel.create(tiny.plan, tiny.weights).catch((e: Error) => {
      throw new Error(`${e.message}\n${HELP}`, { cause: e });
    }));
  afterAll(async () => (await shared?.catch(() => undefined))?.destroy());

  it('gets an adapter', async () => {
    const model = await getModel();
    const { device, adapterInfo } = await acquireDevice().catch((e: Error) => {
      throw new Error(`${e.message}\n${HELP}`);
    });
    expect(adapterInfo.length).toBeGreaterThan(0);
    expect(model.adapterInfo).toBe(adapterInfo);
    device.destroy();
  });

  it('runs a chained two-kernel plan through the arena', async () => {
    const model = await getModel();
    const x = addScaleInput(2);
    const out = await model.run([x], 2);
    expect(out.map((o) => Array.from(o))).toEqual(tiny.expected([x], 2).map((o) => Array.from(o)));
    expect(Array.from(out[0]!.subarray(0, N))).toEqual([0, 0.625, 1.25, 1.875, 2.5]);
  });

  it('changes batch without recompiling and rewrites params only when the batch changes', async () => {
    const model = await getModel();
    expect(model.stats.pipelines).toBe(2);
    const writes = vi.spyOn(model.device.queue, 'writeBuffer');
    try {
      for (const batch of [1, MAX_BATCH, 3, 3, 1]) {
        const x = addScaleInput(batch);
        const out = await model.run([x], batch);
        expect(out[0]!.length).toBe(N * batch);
        expect(out.map((o) => Array.from(o))).toEqual(tiny.expected([x], batch).map((o) => Array.from(o)));
      }
      // One input write per run, plus a params write for every batch change (1 -> 4 -> 3 -> 3 -> 1: 4).
      const paramWrites = writes.mock.calls.filter(([, , data]) => data instanceof Uint32Array);
      expect(writes.mock.calls.length).toBe(5 + 4);
      expect(paramWrites.length).toBe(4);
    } finally {
      writes.mockRestore();
    }
    expect(model.stats.pipelines).toBe(2);
  });

  it('counts dispatches, submits, bytes and memory', async () => {
    const model = await getModel();
    const before = model.stats.submits;
    await model.run([addScaleInput(3)], 3);
    const s = model.stats;
    expect(s.dispatches).toBe(tiny.plan.steps.length);
    expect(s.submits).toBe(before + 1);
    expect(s.bytesMoved).toBe((12 * N + 8 * N + 12 * N) * 3);
    const arena = tiny.plan.arenaFloats * 4;
    const weights = tiny.plan.weightFloats * 4;
    const uniforms = tiny.plan.steps.length * 256;
    const readback = 2 * N * MAX_BATCH * 4;
    expect(s.peakMemoryBytes).toBe(arena + weights + uniforms + readback);
    await model.run([addScaleInput(1)], 1);
    expect(model.stats.submits).toBe(before + 2);
    expect(model.stats.bytesMoved).toBe(12 * N + 8 * N + 12 * N);
  });

  it('serialises concurrent runs', async () => {
    const model = await getModel();
    const batches = [1, 2, 3, 4, 2];
    const outs = await Promise.all(batches.map((b) => model.run([addScaleInput(b)], b)));
    outs.forEach((out, i) => {
      const b = batches[i]!;
      expect(out.map((o) => Array.from(o))).toEqual(
        tiny.expected([addScaleInput(b)], b).map((o) => Array.from(o)),
      );
    });
  });

  it('rejects bad inputs with clear errors', async () => {
    const model = await getModel();
    const cases: [Promise<unknown>, RegExp][] = [
      [model.run([addScaleInput(1)], 0), /batch 0 must be an integer in 1\.\.4/],
      [model.run([addScaleInput(1)], 1.5), /batch 1\.5/],
      [model.run([addScaleInput(4)], 5), /batch 5/],
      [model.run([], 1), /expected 1 input\(s\) \(x\), got 0/],
      [model.run([addScaleInput(2)], 1), /input x has 10 floats; batch 1 of \[batch, 5\] needs 5/],
      [model.run([Float32Array.of(1, 2, Number.NaN, 4, 5)], 1), /input x\[2\] is NaN/],
      [model.run([[1, 2, 3, 4, 5] as unknown as Float32Array], 1), /must be a Float32Array/],
    ];
    for (const [p, msg] of cases) {
      const e = await rejection(p);
      expect(e.code).toBe('bad-input');
      expect(e.message).toMatch(msg);
    }
    // The model still works afterwards.
    const out = await model.run([addScaleInput(1)], 1);
    expect(out[0]!.length).toBe(N);
  });

  it('rejects malformed plans before touching the GPU', async () => {
    const p = tiny.plan;
    const cases: [Plan, RegExp][] = [
      [{ ...p, version: 2 as 1 }, /version 2/],
      [{ ...p, steps: [{ ...p.steps[0]!, kernel: 'nope' }] }, /unknown kernel nope/],
      [
        { ...p, steps: [{ ...p.steps[0]!, offsets: Array.from({ length: MAX_OFFSETS + 1 }, () => 0) }] },
        /61 offsets, at most 60/,
      ],
      [{ ...p, outputs: [{ ...p.outputs[0]!, offset: p.arenaFloats }] }, /outside the arena/],
    ];
    for (const [plan, msg] of cases) {
      const e = await rejection(WebGpuModel.create(plan, tiny.weights));
      expect(e.code).toBe('bad-plan');
      expect(e.message).toMatch(msg);
    }
    const e = await rejection(WebGpuModel.create(p, new Float32Array(3)));
    expect(e.code).toBe('bad-plan');
    expect(e.message).toMatch(/weights have 3 floats, the plan packs 6/);
  });

  it('fails with limit-exceeded when the plan needs more than the adapter has', async () => {
    // 2^29 floats = 2 GiB, beyond SwiftShader's 1 GiB maxStorageBufferBindingSize (and any browser's).
    const plan: Plan = { ...tiny.plan, arenaFloats: 2 ** 29 };
    const e = await rejection(WebGpuModel.create(plan, tiny.weights));
    expect(e.code).toBe('limit-exceeded');
    expect(e.message).toMatch(
      /limit maxStorageBufferBindingSize is too small: needed 2147483648, available \d+/,
    );

    const wide: Plan = {
      ...tiny.plan,
      maxBatch: 1,
      kernels: [{ ...tiny.plan.kernels[1]!, workgroupSize: 1 }],
      steps: [{ ...tiny.plan.steps[1]!, invocationsPerBatch: 2 ** 32 - 1 }],
    };
    const tooWide = await rejection(WebGpuModel.create(wide, tiny.weights));
    expect(tooWide.code).toBe('limit-exceeded');
    expect(tooWide.message).toMatch(/step "main\/z = y \* s" at batch 1: 4294967295 workgroups exceed/);

    const direct = await rejection(
      acquireDevice({ requiredLimits: { maxComputeInvocationsPerWorkgroup: 1e6 } }),
    );
    expect(direct.code).toBe('limit-exceeded');
    expect(direct.message).toMatch(/maxComputeInvocationsPerWorkgroup .*needed 1000000, available \d+/);
  });

  it('names the kernel whose WGSL does not compile', async () => {
    const broken = {
      ...tiny.plan.kernels[1]!,
      wgsl: tiny.plan.kernels[1]!.wgsl.replace('* weights', '* wieghts'),
    };
    const plan: Plan = { ...tiny.plan, kernels: [tiny.plan.kernels[0]!, broken] };
    const e = await rejection(WebGpuModel.create(plan, tiny.weights));
    expect(e.code).toBe('bad-kernel');
    expect(e.message).toMatch(
      /kernel scale \(key scale#\d+, first used by step "main\/z = y \* s"\) failed to compile/,
    );
    expect(e.message).toMatch(/\d+:\d+: .*wieghts/);
  });

  it('names the kernel whose bindings break the three-binding contract', async () => {
    const k = tiny.plan.kernels[1]!;
    const writable = {
      ...k,
      wgsl: k.wgsl.replace('var<storage, read> weights', 'var<storage, read_write> weights'),
    };
    const plan: Plan = { ...tiny.plan, kernels: [tiny.plan.kernels[0]!, writable] };
    const e = await rejection(WebGpuModel.create(plan, tiny.weights));
    expect(e.code).toBe('bad-kernel');
    expect(e.message).toMatch(
      /^kernel scale \(key scale#\d+, first used by step "main\/z = y \* s"\) cannot be made into a pipeline: .*@group\(0\) @binding\(1\)/s,
    );
  });

  it('names the step whose dispatch fails validation on the first run', async () => {
    // A fixed-size arena larger than the arena buffer: the binding is too small, which WebGPU
    // checks at dispatch (the layout's minBindingSize is 0).
    const k = tiny.plan.kernels[1]!;
    const big = { ...k, wgsl: k.wgsl.replace('array<f32>;', 'array<f32, 100000>;') };
    const m = await WebGpuModel.create({ ...tiny.plan, kernels: [tiny.plan.kernels[0]!, big] }, tiny.weights);
    try {
      const e = await rejection(m.run([addScaleInput(1)], 1));
      expect(e.code).toBe('gpu-error');
      expect(e.message).toMatch(/failed GPU validation at step "main\/z = y \* s" \(kernel scale\): /);
    } finally {
      m.destroy();
    }
  });

  it('splits dispatches wider than 65535 workgroups into x and y', async () => {
    expect(splitWorkgroups(10, 65535)).toEqual([10, 1]);
    expect(splitWorkgroups(65536, 65535)).toEqual([32768, 2]);
    expect(() => splitWorkgroups(65536 * 65536, 65535)).toThrow(/maxComputeWorkgroupsPerDimension/);
    const count = 70_001;
    const iota = iotaPlan(count);
    const m = await WebGpuModel.create(iota.plan, iota.weights);
    try {
      const [y] = await m.run([], 1);
      expect(y!.length).toBe(count);
      const wrong = y!.findIndex((v, i) => v !== i);
      expect(wrong).toBe(-1);
      expect(m.stats.dispatches).toBe(1);
    } finally {
      m.destroy();
    }
  });

  it('runs on a caller-provided device and leaves it alive on destroy', async () => {
    const { device } = await acquireDevice();
    const m = await WebGpuModel.create(tiny.plan, tiny.weights, { device });
    const x = addScaleInput(2);
    expect((await m.run([x], 2))[1]).toEqual(tiny.expected([x], 2)[1]);
    m.destroy();
    const e = await rejection(m.run([x], 2));
    expect(e.code).toBe('destroyed');
    // Still usable by its owner.
    device.pushErrorScope('validation');
    device.createBuffer({ size: 16, usage: 0x80 }).destroy();
    expect(await device.popErrorScope()).toBeNull();
    device.destroy();
  });

  it('recreates a lost device on the next run', async () => {
    const m = await WebGpuModel.create(tiny.plan, tiny.weights);
    try {
      const x = addScaleInput(3);
      await m.run([x], 3);
      const lost = m.device;
      lost.destroy();
      await lost.lost;
      const out = await m.run([x], 3);
      expect(out.map((o) => Array.from(o))).toEqual(tiny.expected([x], 3).map((o) => Array.from(o)));
      expect(m.device).not.toBe(lost);
      expect(m.stats.deviceRecreations).toBe(1);
      expect(m.stats.pipelines).toBe(2);
      // A loss in the middle of a run (no time for device.lost to settle) is recovered too.
      const again = m.device;
      const x2 = addScaleInput(2);
      const running = m.run([x2], 2);
      again.destroy();
      const out2 = await running;
      expect(out2.map((o) => Array.from(o))).toEqual(tiny.expected([x2], 2).map((o) => Array.from(o)));
      expect(m.stats.deviceRecreations).toBe(2);
    } finally {
      m.destroy();
    }
  });

  it('retries a run once after a device loss, then names the stage it was lost in', async () => {
    await checkDeviceLossDuringRun({
      create: async () => {
        const m = await WebGpuModel.create(tiny.plan, tiny.weights);
        const x = addScaleInput(2);
        return { run: () => m.run([x], 2), destroy: () => m.destroy() };
      },
    });
  });
});
