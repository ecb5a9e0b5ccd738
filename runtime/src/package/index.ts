/**
 * What a generated model package bundles as `runtime.js` (esbuild) and declares in `runtime.d.ts`
 * (generated from this module's declarations): the WebGPU engine and what the package's generated
 * index.js, cpu.js and webgpu.js use besides it: weights loading and checking, preprocessing, input
 * checks, errors. Browser-safe, like all of runtime/.
 */
export { RuntimeError, type RuntimeErrorCode } from '../device.js';
export {
  dispatch,
  type GpuProgram,
  type GpuShader,
  isGpuUnavailable,
  type ProgramTensor,
} from '../engine.js';
export { checkInput, type Prediction, topkRows } from './check.js';
export { ModelError, type ModelErrorCode } from './errors.js';
export { type Backend, createGpuBackend } from './gpu.js';
export { type ImageSource, type PixelSource, pixelsOf, readImage } from './image.js';
export { type PreprocessSpec, preprocessImage, type RgbaImage, resizedSize } from './preprocess.js';
export { defaultThreads, threadsAllowed } from './threads.js';
export { instantiateKernels, type WasmKernels, wasmSimdSupported } from './wasm.js';
export {
  loadWeights,
  type ProgressCallback,
  sha256,
  sha256Hex,
  toFloat32,
  type WeightsSource,
  type WeightsSpec,
} from './weights.js';
export { DEFAULT_WEIGHTS_CACHE, type WeightsCacheOption } from './weights-cache.js';
export {
  isModelWorker,
  MODEL_WORKER,
  serveModel,
  startModelWorker,
  type WorkerCreateOptions,
  type WorkerModel,
  type WorkerModelInfo,
} from './worker.js';
