import { describe, expect, it } from 'vitest';
import { wasmKernel } from '../../compiler/src/codegen/wasm/kernels.js';
import { buildModel } from '../../compiler/src/driver/frontend.js';

/** The depthwise conv of a model `dwconv(k)` over 8 channels of 64x64, with its operand shapes. */
function depthwise(k: number) {
  const src = `model m(x: f32[B, 8, 64, 64]) {\n  return dwconv(self.c, x, k=${k})\n}\n`;
  const m = buildModel('t.poly', { readFile: () => src }).model!.module;
  const op = m.ops.find((o) => o.op === 'conv2d')!;
  const shape = (id: number) => m.ops[id]!.type.shape.map((d) => (typeof d === 'number' ? d : 1));
  return wasmKernel(op, shape(op.id), op.operands.map(shape), [null, null]);
}

describe('WebAssembly kernels', () => {
  it('a depthwise conv unrolls at most 1024 taps: 31x31 gets a kernel, 33x33 keeps the TypeScript loop', () => {
    // 63x63 overflowed binaryen's stack (an internal error from `polyc compile`).
    expect(depthwise(31)).not.toBeNull();
    expect(depthwise(33)).toBeNull();
    expect(depthwise(63)).toBeNull();
  });
});
