export {
  type AcquiredDevice,
  type AcquireOptions,
  type AdapterIdentity,
  acquireDevice,
  getGpu,
  queryAdapter,
  RuntimeError,
  type RuntimeErrorCode,
} from './device.js';
export {
  dispatch,
  type EngineOptions,
  type EngineStats,
  GpuEngine,
  type GpuProgram,
  type GpuShader,
  isGpuUnavailable,
  type ProgramTensor,
  splitWorkgroups,
} from './engine.js';
export {
  type ModelOptions,
  type ModelStats,
  planLimits,
  planProgram,
  validatePlan,
  WebGpuModel,
} from './executor.js';
export {
  type Kernel,
  MAX_OFFSETS,
  type MemoryReport,
  PARAMS_BYTES,
  PLAN_VERSION,
  type Plan,
  type PlanTensor,
  type Step,
} from './plan.js';
export {
  type KernelProfile,
  type KindProfile,
  kernelKind,
  median,
  type Profile,
  type ProfiledStep,
  type ProfileOptions,
  type ProfileTiming,
  type ProfileTotals,
  type ProgramTimes,
  type StepTime,
  type StepTimes,
  type StepWork,
  summarizeProfile,
} from './profile.js';
export { type Scored, type Tensor, topk } from './tensor.js';
