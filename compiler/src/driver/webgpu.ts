import { buildPlan, type CompiledPlan } from '../codegen/wgsl/plan.js';
import { interpret } from '../ir/interpret.js';
import type { Module } from '../ir/types.js';
import { constnessAnalysis } from '../analysis/constness.js';
import { PassContext } from '../passes/pass.js';

/**
 * The WebGPU path of the driver: a module (normally after the default pipeline) becomes a runtime
 * plan, and a checkpoint becomes the plan's packed weights buffer: every load-time constant the
 * kernels read (folded weights, BN affine maps, scales), evaluated once here by the interpreter.
 */
export function compileForWebGpu(m: Module, maxBatch: number): CompiledPlan {
  return buildPlan(m, maxBatch);
}

export function packWeights(m: Module, compiled: CompiledPlan, weights: ReadonlyMap<string, Float32Array>): Float32Array {
  const constant = new PassContext().get(constnessAnalysis, m);
  const prep: Module = {
    ...m,
    ops: m.ops.filter((o) => constant.has(o.id)),
    outputs: compiled.constants.map((c) => c.id),
  };
  const values = interpret(prep, [], weights);
  const packed = new Float32Array(compiled.plan.weightFloats);
  compiled.constants.forEach((c, i) => {
    packed.set(values[i]!.data.subarray(0, c.size), c.offset);
  });
  return packed;
}
