import { isGpuUnavailable, WebGpuModel } from '../../../runtime/src/index.js';
import type { PreprocessSpec } from '../../../runtime/src/package/preprocess.js';
import { preprocessImage } from '../../../runtime/src/package/preprocess.js';
import { topk } from '../../../runtime/src/tensor.js';
import type { AnalysisContext } from '../analysis/context.js';
import { buildCpuProgram } from '../codegen/ts/cpu.js';
import { cpuSource } from '../codegen/ts/cpu-source.js';
import { emitJavaScript } from '../codegen/ts/emit.js';
import { fail } from '../diagnostics/diagnostic.js';
import type { Module } from '../ir/types.js';
import { loadCpuEngines } from './cpu-engine.js';
import { decodeImage, type FolderHost, type ImageFolder } from './image-folder.js';
import { imagePreprocessing } from './preprocessing.js';
import { compileForWebGpu, packWeights } from './webgpu.js';

/**
 * `polyc eval`: top-1 and top-5 accuracy of a model over a labelled image folder
 * (image-folder.ts), each image decoded and preprocessed as the reference evaluation does
 * (preprocessing.ts, the package's `preprocess`), in batches on WebGPU or on the CPU backend a
 * package ships. Pure apart from the host reading the images.
 */

export type EvalBackend = 'webgpu' | 'cpu' | 'auto';

/** A backend running batches of preprocessed images to logits. */
export interface Classifier {
  readonly backend: 'webgpu' | 'cpu';
  readonly adapterInfo: string;
  /** Why `auto` chose the CPU, when it did. */
  readonly fallbackReason?: string;
  run(input: Float32Array, batch: number): Promise<Float32Array>;
  destroy(): void;
}

/** What the model takes and gives, or E1104 when its input is not one RGB image or its output not one score per class. */
export function evalShapes(m: Module): {
  preprocess: PreprocessSpec;
  imageFloats: number;
  numClasses: number;
} {
  const inputs = m.ops.filter((o) => o.op === 'input');
  const input = inputs[0]?.type.shape ?? [];
  const output = m.ops.find((o) => o.id === m.outputs[0])?.type.shape ?? [];
  const perImage = input.slice(1);
  const preprocess = perImage.every((d) => typeof d === 'number')
    ? imagePreprocessing(perImage as number[])
    : null;
  const numClasses = output[1];
  if (inputs.length !== 1 || m.outputs.length !== 1 || typeof input[0] !== 'string' || !preprocess) {
    fail(
      'E1104',
      `model '${m.name}' takes [${input.join(', ')}]: polyc eval needs one batch of square RGB images, [B, 3, S, S]`,
    );
  }
  if (output.length !== 2 || typeof numClasses !== 'number') {
    fail(
      'E1104',
      `model '${m.name}' gives [${output.join(', ')}]: polyc eval needs class scores, [B, classes]`,
    );
  }
  return { preprocess, imageFloats: 3 * preprocess.size * preprocess.size, numClasses };
}

/**
 * The optimised module `m` on `backend` for batches up to `maxBatch`: WebGPU (the engine `polyc
 * run --backend webgpu` uses), the CPU (the WebAssembly SIMD kernels and loops a package ships,
 * generated here and imported), or `auto`: WebGPU on a hardware adapter, else the CPU, as a
 * package's `backend: 'auto'` chooses.
 */
export async function createClassifier(
  m: Module,
  weights: ReadonlyMap<string, Float32Array>,
  backend: EvalBackend,
  maxBatch: number,
  ctx: AnalysisContext,
): Promise<Classifier> {
  const compiled = compileForWebGpu(m, maxBatch, ctx);
  const packed = packWeights(m, compiled, weights, ctx);
  let fallbackReason: string | undefined;
  if (backend !== 'cpu') {
    try {
      const gpu = await WebGpuModel.create(compiled.plan, packed, { hardwareOnly: backend === 'auto' });
      return {
        backend: 'webgpu',
        adapterInfo: gpu.adapterInfo,
        run: async (input, batch) => (await gpu.run([input], batch))[0]!,
        destroy: () => gpu.destroy(),
      };
    } catch (e) {
      if (backend === 'webgpu' || !isGpuUnavailable(e)) throw e;
      fallbackReason = (e as Error).message;
    }
  }
  const cpu = await loadCpuEngines(
    emitJavaScript(cpuSource(buildCpuProgram(m, compiled.constants, ctx), m.name)),
  );
  const engine = await cpu(packed);
  return {
    backend: 'cpu',
    adapterInfo: engine.adapterInfo,
    ...(fallbackReason === undefined ? {} : { fallbackReason }),
    run: async (input, batch) => engine.run(input, batch),
    destroy: () => engine.destroy(),
  };
}

export interface EvalProgress {
  readonly done: number;
  readonly total: number;
  /** Since the first image was read. */
  readonly elapsedMs: number;
}

export interface EvalPrediction {
  /** The image's path inside the folder. */
  readonly file: string;
  readonly target: number;
  /** The k best classes, best first (k = min(5, classes)). */
  readonly top: readonly number[];
}

export interface EvalClassResult {
  readonly name: string;
  readonly index: number;
  readonly count: number;
  readonly correct1: number;
  readonly correct5: number;
}

export interface EvalResult {
  readonly count: number;
  readonly correct1: number;
  readonly correct5: number;
  readonly classes: readonly EvalClassResult[];
  readonly predictions: readonly EvalPrediction[];
  /** Reading, decoding and preprocessing; running the model (both summed over batches); all. */
  readonly timing: { readonly decodeMs: number; readonly inferenceMs: number; readonly totalMs: number };
}

export interface EvalOptions {
  readonly batch: number;
  /** Evaluate the first `limit` images in the folder's order only. */
  readonly limit?: number;
  /** Called after each batch. */
  readonly onProgress?: (p: EvalProgress) => void;
}

/** Runs every sample of `folder` (up to the limit) through `classifier` and counts the hits. */
export async function evaluate(
  folder: ImageFolder,
  host: FolderHost,
  shapes: ReturnType<typeof evalShapes>,
  classifier: Classifier,
  options: EvalOptions,
): Promise<EvalResult> {
  const samples = folder.samples.slice(0, options.limit ?? folder.samples.length);
  const k = Math.min(5, shapes.numClasses);
  const input = new Float32Array(options.batch * shapes.imageFloats);
  const prefix = `${folder.root}/`;
  const predictions: EvalPrediction[] = [];
  const hits = new Map(folder.classes.map((c) => [c.index, { count: 0, correct1: 0, correct5: 0 }]));
  let decodeMs = 0;
  let inferenceMs = 0;
  const t0 = performance.now();
  for (let start = 0; start < samples.length; start += options.batch) {
    const batch = samples.slice(start, start + options.batch);
    const t1 = performance.now();
    batch.forEach((s, i) => {
      const bytes = host.read(s.path);
      if (!(bytes instanceof Uint8Array)) fail('E1102', `cannot read '${s.path}': ${bytes.error}`);
      input.set(preprocessImage(decodeImage(bytes, s.path), shapes.preprocess), i * shapes.imageFloats);
    });
    const t2 = performance.now();
    const logits = await classifier.run(input.subarray(0, batch.length * shapes.imageFloats), batch.length);
    inferenceMs += performance.now() - t2;
    decodeMs += t2 - t1;
    topk({ shape: [batch.length, shapes.numClasses], data: logits }, k).forEach((row, i) => {
      const s = batch[i]!;
      const top = row.map((e) => e.index);
      const h = hits.get(s.target)!;
      h.count++;
      if (top[0] === s.target) h.correct1++;
      if (top.includes(s.target)) h.correct5++;
      predictions.push({
        file: s.path.startsWith(prefix) ? s.path.slice(prefix.length) : s.path,
        target: s.target,
        top,
      });
    });
    options.onProgress?.({
      done: start + batch.length,
      total: samples.length,
      elapsedMs: performance.now() - t0,
    });
  }
  const classes = folder.classes.map((c) => ({ name: c.name, index: c.index, ...hits.get(c.index)! }));
  return {
    count: samples.length,
    correct1: classes.reduce((a, c) => a + c.correct1, 0),
    correct5: classes.reduce((a, c) => a + c.correct5, 0),
    classes,
    predictions,
    timing: { decodeMs, inferenceMs, totalMs: performance.now() - t0 },
  };
}

/** `--json`'s summary (documented in docs/eval.md). */
export function evalSummary(
  r: EvalResult,
  info: { model: string; data: string; batch: number; limit: number | null; skipped: number; loadMs: number },
  classifier: Classifier,
): object {
  const rate = (n: number, d: number) => (d === 0 ? 0 : n / d);
  return {
    model: info.model,
    data: info.data,
    backend: classifier.backend,
    adapter: classifier.adapterInfo,
    ...(classifier.fallbackReason === undefined ? {} : { fallbackReason: classifier.fallbackReason }),
    count: r.count,
    top1: rate(r.correct1, r.count),
    top5: rate(r.correct5, r.count),
    correct1: r.correct1,
    correct5: r.correct5,
    batch: info.batch,
    limit: info.limit,
    skippedFiles: info.skipped,
    classes: r.classes.map((c) => ({
      ...c,
      top1: rate(c.correct1, c.count),
      top5: rate(c.correct5, c.count),
    })),
    timing: {
      loadS: info.loadMs / 1000,
      decodeS: r.timing.decodeMs / 1000,
      inferenceS: r.timing.inferenceMs / 1000,
      totalS: r.timing.totalMs / 1000,
      imagesPerS: rate(r.count, r.timing.totalMs / 1000),
    },
    predictions: r.predictions,
  };
}

/** The accuracy line: `top-1 66.67% (2/3)  top-5 100.00% (3/3)  3 images, ...`. */
export function formatAccuracy(r: EvalResult, classifier: Classifier): string {
  const pct = (n: number) => `${((100 * n) / Math.max(r.count, 1)).toFixed(2)}%`;
  const seconds = r.timing.totalMs / 1000;
  return (
    `top-1 ${pct(r.correct1)} (${r.correct1}/${r.count})  top-5 ${pct(r.correct5)} (${r.correct5}/${r.count})  ` +
    `${r.count} images, ${classifier.backend} (${classifier.adapterInfo}), ${(r.count / seconds).toFixed(1)} images/s`
  );
}

/** The progress line a terminal shows: `[#####.....] 120/500 images  43.1 images/s  ETA 9s`. */
export function formatProgress(p: EvalProgress, width = 24): string {
  const filled = Math.round((width * p.done) / Math.max(p.total, 1));
  const rate = p.done / Math.max(p.elapsedMs / 1000, 1e-9);
  const eta = Math.ceil((p.total - p.done) / rate);
  const etaText = eta >= 60 ? `${Math.floor(eta / 60)}m${String(eta % 60).padStart(2, '0')}s` : `${eta}s`;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total} images  ${rate.toFixed(1)} images/s  ETA ${etaText}`;
}
