import { loadCpuEngines } from './cpu-engine.js';
import { randomInput } from './random-weights.js';

/**
 * What `--weights-dtype f16` costs in accuracy, measured at compile time: the package's own CPU
 * backend (its generated cpu.js, WebAssembly SIMD kernels) run on one deterministic input image
 * (uniform in [-1, 1), seed 1), once on the float32 weights and once on the weights as weights.bin
 * stores them, widened by the runtime's decoder (exactly what either backend of the package reads
 * after loading). The same kernels in both runs, so the difference is the weights' alone; one
 * image keeps it cheap (the interpreter took 88 s for CPolyNeXt-T at 224, these kernels well
 * under a second per run).
 */

export interface Float16Error {
  /** max |logit_f16 - logit_f32| / max |logit_f32|. */
  readonly relative: number;
  readonly maxAbsDiff: number;
  readonly maxAbsLogit: number;
}

/**
 * `cpuJs`: the package's generated cpu.js; `inputShape`: one image's shape; `packed`: the float32
 * weights; `stored`: the weights widened from weights.bin.
 */
export async function float16LogitError(
  cpuJs: string,
  inputShape: readonly number[],
  packed: Float32Array,
  stored: Float32Array,
): Promise<Float16Error> {
  const image = randomInput([1, ...inputShape]).data;
  const cpu = await loadCpuEngines(cpuJs);
  const logits = async (weights: Float32Array) => {
    const engine = await cpu(weights);
    try {
      return engine.run(image, 1);
    } finally {
      engine.destroy();
    }
  };
  const reference = await logits(packed);
  const f16 = await logits(stored);

  let maxAbsDiff = 0;
  let maxAbsLogit = 0;
  for (let i = 0; i < reference.length; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(f16[i]! - reference[i]!));
    maxAbsLogit = Math.max(maxAbsLogit, Math.abs(reference[i]!));
  }
  return { relative: maxAbsLogit > 0 ? maxAbsDiff / maxAbsLogit : maxAbsDiff, maxAbsDiff, maxAbsLogit };
}
