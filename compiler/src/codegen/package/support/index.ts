/**
 * What a generated model package bundles as `runtime.js` (esbuild): polyc's WebGPU runtime
 * (runtime/src) plus the package support code: weights loading and checking, preprocessing, input
 * checks and the device side of the generated WebGPU backend. Browser-safe; no compiler imports.
 * The package's generated index.js, cpu.js and webgpu.js import from it.
 */
export * from '../../../../../runtime/src/index.js';
export { checkInput, type Prediction, topkRows } from './check.js';
export { ModelError, type ModelErrorCode } from './errors.js';
export { dispatch, GpuEngine, type GpuProgram, type GpuShader, isGpuUnavailable } from './gpu-engine.js';
export { type PreprocessSpec, preprocessImage, type RgbaImage, resizedSize } from './preprocess.js';
export {
  loadWeights,
  type ProgressCallback,
  sha256,
  sha256Hex,
  toFloat32,
  type WeightsSource,
  type WeightsSpec,
} from './weights.js';
