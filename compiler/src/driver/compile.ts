import { createHash } from 'node:crypto';
import { AnalysisContext } from '../analysis/context.js';
import { costAnalysis } from '../analysis/cost.js';
import { degreeReport } from '../analysis/degree.js';
import { bundleRuntime } from '../codegen/package/bundle.js';
import { type CardInfo, modelCard } from '../codegen/package/card.js';
import { encodeFloat16, FLOAT16_MIN_ELEMENTS } from '../codegen/package/float16.js';
import { type LabelsOption, packageLabels } from '../codegen/package/labels.js';
import { packageJson, type WeightsManifest } from '../codegen/package/manifest.js';
import { type ApiInfo, indexSource } from '../codegen/ts/api.js';
import { buildCpuProgram } from '../codegen/ts/cpu.js';
import { cpuSource } from '../codegen/ts/cpu-source.js';
import { emitPackageCode } from '../codegen/ts/emit.js';
import { webgpuSource } from '../codegen/ts/webgpu.js';
import { fail } from '../diagnostics/diagnostic.js';
import type { Module } from '../ir/types.js';
import { type PassRecord, runPasses } from '../passes/manager.js';
import type { Pass } from '../passes/pass.js';
import { parsePipeline } from '../passes/pipeline.js';
import { float16LogitError } from './float16-error.js';
import { imagePreprocessing } from './preprocessing.js';
import { loadWeights, syntheticWeights } from './run.js';
import { compileForWebGpu, describeTuned, packWeights, type TunedKernels } from './webgpu.js';

/**
 * `polyc compile`: a module (as written) and a checkpoint become the files of a self-contained npm
 * package (see docs/package.md). Pure apart from esbuild reading runtime/src to bundle it: returns
 * the files as bytes; the CLI writes them (atomically).
 */

export interface CompileRequest {
  /** The verified module as written (the pipeline runs here). */
  readonly module: Module;
  /** The checkpoint, or null for deterministic random weights (seed 0). */
  readonly checkpoint: { readonly file: string; readonly bytes: Uint8Array } | null;
  readonly packageName: string;
  readonly maxBatch: number;
  /** The .poly file's name (no directory: the package must not hold the machine's paths), for the model card. */
  readonly source: string;
  /** The model's settings after `--set`, typed as the model evaluated them. */
  readonly settings: Readonly<Record<string, number | boolean | string>>;
  /** `--labels`: the class names `topk` gives (default: ImageNet's for 1000 classes, else none). */
  readonly labels?: LabelsOption;
  /** The package's SPDX licence expression (package.json `license` and the card); default 'UNLICENSED'. */
  readonly license?: string;
  /** `--weights-dtype`: how weights.bin stores the weights (default 'f32'). */
  readonly weightsDtype?: WeightsDtype;
  /** With f16: tensors of fewer elements stay float32 (default FLOAT16_MIN_ELEMENTS; 0: none). */
  readonly float16MinElements?: number;
  readonly polycVersion: string;
  /** Default: the default pipeline. */
  readonly pipeline?: readonly Pass[];
  /** Tuned kernel variants (`--tune-cache`) by kernel signature, and the adapter they were tuned for; default: every template's rule. */
  readonly tuned?: { readonly adapter: string; readonly choices: TunedKernels };
  /** Called when a long step starts. */
  readonly progress?: (message: string) => void;
}

export interface CompiledPackage {
  /** Path inside the package directory -> contents. */
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** What the model card says about the weights and the two backends. */
  readonly summary: Pick<CardInfo, 'weights' | 'webgpu' | 'cpu'>;
  /** The pipeline's passes, for `--timing` (the pipeline runs here, not in the CLI's front end). */
  readonly passes: readonly PassRecord[];
  /** Wall time of each step of the compile, in order (the steps `progress` announces). */
  readonly phases: readonly CompilePhase[];
}

/** weights.bin's element type: float32, or IEEE binary16 widened to float32 on load. */
export type WeightsDtype = 'f32' | 'f16';

export interface CompilePhase {
  readonly name: string;
  readonly ms: number;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const LITTLE_ENDIAN_HOST = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f;

function littleEndianBytes(data: Float32Array): Uint8Array {
  // Every platform Node runs on is little-endian: there the floats' own bytes are the file.
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  return out;
}

export async function compilePackage(req: CompileRequest): Promise<CompiledPackage> {
  const phases: CompilePhase[] = [];
  let current: { name: string; t0: number } | null = null;
  const endPhase = () => {
    if (current) phases.push({ name: current.name, ms: performance.now() - current.t0 });
    current = null;
  };
  /** Starts the next step: ends the one before, announces this one if it is long. */
  const phase = (name: string, message?: string) => {
    endPhase();
    if (message !== undefined) req.progress?.(message);
    current = { name, t0: performance.now() };
  };
  // One analysis context for the whole compile: passes, planners and codegen share its cache.
  const ctx = new AnalysisContext();
  const m = req.module;
  if (!Number.isInteger(req.maxBatch) || req.maxBatch < 1) {
    fail('E0701', `--max-batch must be a positive integer, got ${req.maxBatch}`);
  }
  const inputs = m.ops.filter((o) => o.op === 'input');
  const input = inputs[0];
  if (inputs.length !== 1 || m.outputs.length !== 1 || !input) {
    fail(
      'E1001',
      `model '${m.name}' has ${inputs.length} inputs and ${m.outputs.length} outputs; one of each is supported`,
    );
  }
  const output = m.ops.find((o) => o.id === m.outputs[0])!;
  const perImage = (shape: readonly (number | string)[], what: string): number[] => {
    if (typeof shape[0] !== 'string' || shape.slice(1).some((d) => typeof d !== 'number')) {
      fail(
        'E1001',
        `the ${what} of '${m.name}' is [${shape.join(', ')}]: the batch must be its first dimension only`,
      );
    }
    return shape.slice(1) as number[];
  };
  const inputShape = perImage(input.type.shape, 'input');
  const outputShape = perImage(output.type.shape, 'output');
  // Checked before the slow steps: a wrong --labels file fails at once.
  const labels = packageLabels(
    req.labels,
    outputShape.reduce((a, b) => a * b, 1),
  );

  let weights: Map<string, Float32Array>;
  if (req.checkpoint) {
    phase(
      'import weights',
      `importing weights from ${req.checkpoint.file} (${(req.checkpoint.bytes.length / 1e6).toFixed(1)} MB)`,
    );
    weights = loadWeights(m, req.checkpoint.bytes, req.checkpoint.file);
  } else {
    phase('random weights', 'generating deterministic random weights (seed 0)');
    weights = syntheticWeights(m);
  }
  phase('analyses');
  const modelCost = ctx.get(costAnalysis, m);
  const degree = degreeReport(m, ctx);

  phase('optimise', 'optimising (pass pipeline)');
  const optimised = runPasses(m, req.pipeline ?? parsePipeline('default'), { context: ctx });
  const opt = optimised.module;

  phase('webgpu plan', `planning WebGPU kernels (max batch ${req.maxBatch}) and packing weights`);
  const compiled = compileForWebGpu(opt, req.maxBatch, ctx, req.tuned?.choices);
  if (req.tuned) req.progress?.(describeTuned(compiled));
  phase('pack weights');
  const packed = packWeights(opt, compiled, weights, ctx);
  const half = req.weightsDtype === 'f16';
  const f16 = half ? encodeFloat16(packed, compiled.constants, opt, req.float16MinElements) : null;
  const weightBytes = f16 ? f16.bytes : littleEndianBytes(packed);
  const weightsSha = sha256(weightBytes);

  phase('cpu kernels', 'generating CPU kernels');
  const cpu = buildCpuProgram(opt, compiled.constants, ctx);

  const preprocess = imagePreprocessing(inputShape);
  const api: ApiInfo = {
    model: m.name,
    inputShape,
    outputShape,
    maxBatch: req.maxBatch,
    labels,
    preprocess,
    weights: {
      file: 'weights.bin',
      floats: packed.length,
      byteLength: weightBytes.length,
      sha256: weightsSha,
      dtype: half ? 'float16' : 'float32',
      float32Runs: f16?.float32Runs ?? [],
      synthetic: req.checkpoint === null,
    },
  };

  phase('typescript', 'generating TypeScript and emitting JavaScript (ts-morph)');
  const emitted = emitPackageCode({
    index: indexSource(api),
    cpu: cpuSource(cpu, m.name),
    webgpu: webgpuSource(compiled.plan),
  });

  let float16: CardInfo['weights']['float16'] = null;
  if (f16) {
    phase('float16 error', 'measuring the logit error of float16 weights (CPU kernels, one image)');
    float16 = {
      ...(await float16LogitError(emitted.files.get('cpu.js')!, inputShape, packed, f16.values)),
      subnormal: f16.subnormal,
      flushed: f16.flushed,
      float32Tensors: f16.float32Tensors,
      float32TensorBytes: f16.float32Bytes,
      tensors: f16.tensors.length,
      minElements: req.float16MinElements ?? FLOAT16_MIN_ELEMENTS,
      float32Bytes: packed.length * 4,
    };
  }

  phase('bundle runtime', 'bundling the runtime (esbuild)');
  const runtime = await bundleRuntime(
    `// polyc ${req.polycVersion}: runtime/src and the package support code, bundled. Do not edit.`,
  );
  phase('package files');

  const plan = compiled.plan;
  const dispatches = plan.steps.filter((s) => s.invocationsPerBatch > 0).length;
  const kernels = new Set(plan.steps.filter((s) => s.invocationsPerBatch > 0).map((s) => s.kernel)).size;
  const manifest: WeightsManifest = {
    format: 'polyc-weights',
    version: 1,
    file: 'weights.bin',
    dtype: half ? 'float16' : 'float32',
    byteOrder: 'little-endian',
    length: packed.length,
    byteLength: weightBytes.length,
    sha256: weightsSha,
    // Tensors start at multiples of 4 elements (the plan packs them so), whatever their dtype.
    alignment: half ? 8 : 16,
    synthetic: req.checkpoint === null,
    checkpoint: req.checkpoint ? basename(req.checkpoint.file) : null,
    tensors: f16
      ? f16.tensors.map((t) => ({
          id: t.id,
          offset: t.offset,
          size: t.size,
          dtype: t.dtype,
          byteOffset: t.byteOffset,
        }))
      : compiled.constants.map((c) => ({ id: c.id, offset: c.offset, size: c.size })),
  };
  const text = new TextEncoder();
  const files = new Map<string, Uint8Array>();
  const addText = (name: string, s: string) => files.set(name, text.encode(s));
  for (const [name, s] of emitted.files) addText(name, s);
  addText('runtime.js', runtime);
  files.set('weights.bin', weightBytes);
  addText('weights.json', `${JSON.stringify(manifest, null, 2)}\n`);
  for (const [name, s] of emitted.sources) addText(`src/${name}`, s);
  const card: CardInfo = {
    packageName: req.packageName,
    model: m.name,
    source: req.source,
    settings: req.settings,
    license: req.license ?? 'UNLICENSED',
    labels:
      labels === null
        ? null
        : { count: labels.length, imagenet: req.labels === undefined || req.labels === 'imagenet' },
    polycVersion: req.polycVersion,
    cost: modelCost,
    degree,
    inputShape,
    outputShape,
    maxBatch: req.maxBatch,
    preprocess,
    weights: {
      synthetic: req.checkpoint === null,
      checkpoint: req.checkpoint ? basename(req.checkpoint.file) : null,
      checkpointSha256: req.checkpoint ? sha256(req.checkpoint.bytes) : null,
      byteLength: weightBytes.length,
      sha256: weightsSha,
      float16,
    },
    webgpu: {
      dispatches,
      kernels,
      arenaBytes: plan.memory.plannedBytes,
      tuned:
        req.tuned && compiled.tuned.chosen > 0
          ? { adapter: req.tuned.adapter, steps: compiled.tuned.chosen }
          : null,
    },
    cpu: {
      loopNests: cpu.calls.length,
      kernels: cpu.kernels.length,
      arenaBytes: cpu.arenaFloats * 4,
      wasm: { calls: cpu.wasm?.calls ?? 0, bytes: cpu.wasm?.bytes.length ?? 0 },
    },
  };
  addText('README.md', modelCard(card));
  const shipped = [...files.keys()].filter((f) => !f.startsWith('src/')).concat('src/');
  addText(
    'package.json',
    `${JSON.stringify(
      packageJson({
        name: req.packageName,
        model: m.name,
        description: `${m.name} (PolyNeXt) compiled by polyc: WebGPU and CPU inference, no dependencies${
          req.checkpoint === null ? ' (RANDOM WEIGHTS, not trained)' : ''
        }`,
        polycVersion: req.polycVersion,
        source: req.source,
        settings: req.settings,
        license: req.license ?? 'UNLICENSED',
        synthetic: req.checkpoint === null,
        files: shipped.sort(),
      }),
      null,
      2,
    )}\n`,
  );
  endPhase();
  return {
    passes: optimised.records,
    phases,
    files,
    summary: { weights: card.weights, webgpu: card.webgpu, cpu: card.cpu },
  };
}

function basename(path: string): string {
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}
