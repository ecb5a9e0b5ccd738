import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { AnalysisContext } from '../../compiler/src/analysis/context.js';
import { buildCpuProgram } from '../../compiler/src/codegen/ts/cpu.js';
import { cpuSource } from '../../compiler/src/codegen/ts/cpu-source.js';
import { emitJavaScript } from '../../compiler/src/codegen/ts/emit.js';
import { DiagnosticError } from '../../compiler/src/diagnostics/diagnostic.js';
import { buildModel } from '../../compiler/src/driver/frontend.js';
import { randomInput } from '../../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../../compiler/src/driver/run.js';
import { compileForWebGpu, packWeights } from '../../compiler/src/driver/webgpu.js';
import { interpret } from '../../compiler/src/ir/interpret.js';
import type { Module } from '../../compiler/src/ir/types.js';
import { runPasses } from '../../compiler/src/passes/manager.js';
import { parsePipeline } from '../../compiler/src/passes/pipeline.js';
import { instantiateKernels, type WasmKernels } from '../../runtime/src/package/wasm.js';
import { KERNEL_MODELS } from '../codegen/kernel-models.js';
import { buildExample, relError } from '../helpers.js';

/**
 * The generated CPU backend (specialised TypeScript loops, emitted with ts-morph) against the
 * interpreter: < 1e-5 relative for every kernel kind, fused and unfused, and for example models.
 */

const dir = mkdtempSync(join(tmpdir(), 'polyc-cpu-'));
const errors: number[] = [];
const wasmErrors: number[] = [];
/** Op kinds (the TypeScript kernel's name prefix) that ran as WebAssembly kernels. */
const wasmOps = new Set<string>();
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `generated CPU kernels vs interpreter: max rel error ${Math.max(...errors).toExponential(2)} over ${errors.length} models` +
      `; their WebAssembly SIMD kernels: ${Math.max(...wasmErrors).toExponential(2)} over ${wasmErrors.length}`,
  );
});
let counter = 0;

interface CpuModule {
  KERNELS: string | null;
  createCpu(
    weights: Float32Array,
    kernels: WasmKernels | null,
  ): { adapterInfo: string; run(input: Float32Array, batch: number): Float32Array; destroy(): void };
}

/** Generates, emits and imports the CPU module of `m` after `passes`, with a random input and the interpreter's output. */
async function generate(m: Module, passes: string, batch: number, seed: number) {
  const weights = syntheticWeights(m);
  const ctx = new AnalysisContext();
  const opt = runPasses(m, parsePipeline(passes), { verifyEach: true, context: ctx }).module;
  const compiled = compileForWebGpu(opt, batch, ctx);
  const packed = packWeights(opt, compiled, weights, ctx);
  const program = buildCpuProgram(opt, compiled.constants, ctx);
  for (const c of program.calls) if (c.wasm) wasmOps.add(c.kernel.replace(/_.*/, ''));
  const source = emitJavaScript(cpuSource(program, m.name));
  const file = join(dir, `cpu-${counter++}.js`);
  writeFileSync(file, source);
  const mod = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as CpuModule;
  const shape = m.ops
    .find((o) => o.op === 'input')!
    .type.shape.map((d) => (typeof d === 'number' ? d : batch));
  const input = randomInput(shape, seed);
  const [ref] = interpret(m, [input], weights);
  return { mod, packed, program, input: input.data, ref: ref!.data };
}

/** Generates, emits and imports the CPU module of `m` after `passes`; runs it and the interpreter. */
async function compare(m: Module, passes: string, batch: number, seed = 3): Promise<number> {
  const { mod, packed, input, ref } = await generate(m, passes, batch, seed);
  const js = mod.createCpu(packed, null);
  const errJs = relError(js.run(input, batch), ref);
  errors.push(errJs);
  if (mod.KERNELS === null) return errJs;
  const wasm = mod.createCpu(packed, await instantiateKernels(mod.KERNELS));
  expect(wasm.adapterInfo).toContain('WebAssembly SIMD');
  const errWasm = relError(wasm.run(input, batch), ref);
  wasmErrors.push(errWasm);
  return Math.max(errJs, errWasm);
}

/**
 * The WebAssembly kernels on 1, 2 and 3 threads (worker_threads): the same floats whatever the
 * threads (each output channel is computed by one thread, in the same order), < 1e-5 of the
 * interpreter. Returns how many calls split over the threads.
 */
async function compareThreads(m: Module, batch: number): Promise<number> {
  const { mod, packed, program, input, ref } = await generate(m, 'default', batch, 11);
  const single = await instantiateKernels(mod.KERNELS!, 1);
  expect(single!.threads).toBe(1);
  const one = mod.createCpu(packed, single).run(input, batch);
  expect(relError(one, ref)).toBeLessThan(1e-5);
  for (const threads of [2, 3]) {
    const kernels = await instantiateKernels(mod.KERNELS!, threads);
    expect(kernels!.threads).toBe(threads);
    expect(kernels!.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    const engine = mod.createCpu(packed, kernels);
    expect(engine.adapterInfo).toBe(`CPU (WebAssembly SIMD kernels, ${threads} threads)`);
    try {
      // Counted rather than compared with toEqual, whose diff of large arrays takes minutes.
      for (let run = 0; run < 2; run++) expect(differing(engine.run(input, batch), one)).toBe(0);
    } finally {
      engine.destroy();
    }
  }
  return program.calls.filter((c) => c.wasm?.split !== undefined).length;
}

/** How many values differ between `a` and `b` (bitwise: NaN never equals). */
function differing(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('WebAssembly kernels split over worker threads', () => {
  it('pointwise GEMMs with output channels not a multiple of 4 and pixels not a multiple of 8, batch 2', async () => {
    const r = buildModel('split.poly', {
      readFile: () => `model m(x: f32[B, 29, 45, 45]) {
  z = pwconv(self.a, x, out=67)
  return pwconv(self.b, z * z + 1, out=33)
}`,
    });
    expect(r.diagnostics).toEqual([]);
    expect(await compareThreads(r.model!.module, 2)).toBe(2);
  });
  for (const name of ['cpolynext_t', 'apolynext_t']) {
    it(`${name} (32 channels, 96x96), batch 2`, async () => {
      const m = buildExample(`examples/${name}.poly`, {
        init_channels: '32',
        num_classes: '10',
        image_size: '96',
      });
      expect(await compareThreads(m, 2)).toBeGreaterThan(0);
    });
  }
});

describe('generated CPU kernels against the interpreter', () => {
  for (const [name, { source }] of Object.entries(KERNEL_MODELS)) {
    for (const passes of ['default', 'none']) {
      it(`${name}, ${passes === 'default' ? 'fused' : 'unfused'}, batch 3`, async () => {
        const r = buildModel('kernel.poly', { readFile: () => source });
        expect(r.diagnostics).toEqual([]);
        expect(await compare(r.model!.module, passes, 3)).toBeLessThan(1e-5);
      });
    }
  }

  for (const name of ['cpolynext_t', 'apolynext_t', 'cpolynext_t_bn', 'apolynext_t_bn', 'cpolynext_lr']) {
    it(`${name} (16 channels, 32x32), batch 2`, async () => {
      const m = buildExample(`examples/${name}.poly`, {
        init_channels: '16',
        num_classes: '10',
        image_size: '32',
      });
      expect(await compare(m, 'default', 2)).toBeLessThan(1e-5);
    });
  }
});

// Every kernel kind at batch 1 (unfused: one op per kernel) and 5 (fused regions expanded): odd
// channel counts, counts not divisible by 4, stride 2, dilation 2, widths not multiples of 4.
describe('WebAssembly SIMD kernels against the interpreter, batch 1 and 5', () => {
  for (const [name, { source }] of Object.entries(KERNEL_MODELS)) {
    for (const [passes, batch] of [
      ['none', 1],
      ['default', 5],
    ] as const) {
      it(`${name}, ${passes === 'default' ? 'fused' : 'unfused'}, batch ${batch}`, async () => {
        const r = buildModel('kernel.poly', { readFile: () => source });
        expect(await compare(r.model!.module, passes, batch, 7)).toBeLessThan(1e-5);
      });
    }
  }
  it('cover convolutions, matmuls, LayerNorm, L1 normalisation, reductions, copies, transposes, linear and elementwise ops', () => {
    for (const op of [
      'conv2d',
      'matmul',
      'layernorm2d',
      'mean',
      'slice',
      'flip',
      'transpose',
      'l1norm',
      'add',
      'mul',
      'sub',
    ]) {
      expect(wasmOps).toContain(op);
    }
  });
});

describe('a model without WebAssembly kernels', () => {
  it('ships no module and runs its TypeScript loops (a grouped conv)', async () => {
    const source = 'model m(x: f32[B, 4, 9, 9]) {\n  return conv2d(self.c, x, out=6, k=3, groups=2)\n}';
    const r = buildModel('grouped.poly', { readFile: () => source });
    expect(r.diagnostics).toEqual([]);
    const m = r.model!.module;
    const ctx = new AnalysisContext();
    expect(buildCpuProgram(m, compileForWebGpu(m, 2, ctx).constants, ctx).wasm).toBeNull();
    expect(await compare(m, 'none', 2)).toBeLessThan(1e-5);
  });
});

describe('what the CPU code generator refuses', () => {
  it('an op across the batch is E1001', () => {
    const source = 'model m(x: f32[B, 4]) {\n  return mean(x, [0], keepdims=true)\n}';
    const r = buildModel('batch.poly', { readFile: () => source });
    expect(r.diagnostics).toEqual([]);
    const m = r.model!.module;
    const ctx = new AnalysisContext();
    const compiled = compileForWebGpu(m, 2, ctx);
    let err: unknown;
    try {
      buildCpuProgram(m, compiled.constants, ctx);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DiagnosticError);
    expect((err as DiagnosticError).diagnostics[0]!.code).toBe('E1001');
  });
});
