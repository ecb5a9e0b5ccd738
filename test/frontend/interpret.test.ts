import { describe, expect, it } from 'vitest';
import { buildModel } from '../../compiler/src/driver/frontend.js';
import { interpret, type Tensor } from '../../compiler/src/ir/interpret.js';
import type { Module } from '../../compiler/src/ir/types.js';

/** Small hand-checkable programs through the front end and the interpreter (tolerance 1e-6). */
function build(body: string, input = 'f32[B, 2, 3, 3]'): Module {
  const src = `model t(x: ${input}) {\n${body}\n}\n`;
  const r = buildModel('t.poly', { readFile: () => src });
  if (!r.model) throw new Error(JSON.stringify(r.diagnostics));
  return r.model.module;
}

function ramp(shape: number[], scale = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, (_, i) => (i - n / 2) * scale) };
}

function closeTo(actual: Float32Array, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => {
    expect(actual[i]).toBeCloseTo(e, 5);
  });
}

describe('interpreter semantics', () => {
  it('flip reverses channels; slices and Hadamard products', () => {
    const m = build('  return x[:, :1] * flip(x)[:, :1]', 'f32[B, 2, 1, 2]');
    const [y] = interpret(m, [{ shape: [1, 2, 1, 2], data: Float32Array.of(1, 2, 3, 4) }], new Map());
    closeTo(y!.data, [1 * 3, 2 * 4]);
  });

  it('negative axes in the DSL are stored as the positive axis when the op is built', () => {
    const m = build(
      '  return l1norm(flip(x, axis=-1), axis=-3) + mean(chunk(x, 3, axis=-2)[0], [-1], keepdims=true)',
    );
    const attrs = (kind: string) => m.ops.filter((o) => o.op === kind).map((o) => o.attrs);
    // x is f32[B, 2, 3, 3]; l1norm's default axis (-1) is 3 too.
    expect(attrs('flip')).toEqual([{ axis: 3 }]);
    expect(attrs('l1norm')).toEqual([{ axis: 1, eps: 1e-12 }]);
    expect(attrs('slice')).toEqual([
      { axis: 2, start: 0, end: 1 },
      { axis: 2, start: 1, end: 2 },
      { axis: 2, start: 2, end: 3 },
    ]);
    expect(attrs('mean')).toEqual([{ axes: [3], keepdims: true }]);
    expect(build('  return l1norm(x)').ops.find((o) => o.op === 'l1norm')!.attrs).toEqual({
      axis: 3,
      eps: 1e-12,
    });
  });

  it('LayerNorm2d uses max(E[x^2] - E[x]^2, 0) and eps 1e-5, per pixel over channels', () => {
    const m = build('  return layernorm2d(self.ln, x)', 'f32[B, 3, 1, 2]');
    const w = Float32Array.of(1, 2, 3);
    // pixel 0: channels (1, 2, 3); pixel 1: a constant (5, 5, 5) whose variance is 0, not negative.
    const [y] = interpret(
      m,
      [{ shape: [1, 3, 1, 2], data: Float32Array.of(1, 5, 2, 5, 3, 5) }],
      new Map([['ln.weight', w]]),
    );
    const r = 1 / Math.sqrt(2 / 3 + 1e-5);
    closeTo(y!.data, [-1 * r * 1, 0, 0, 0, 1 * r * 3, 0]);
  });

  it('dilated depthwise conv with same padding', () => {
    const m = build('  return dwconv(self.dw, x, k=3, dilation=2)', 'f32[B, 1, 1, 5]');
    const w = new Float32Array(9);
    w[3] = 1; // left tap at dilation 2: y[i] = x[i - 2]
    w[5] = 10; // right tap: + 10 * x[i + 2]
    const [y] = interpret(
      m,
      [{ shape: [1, 1, 1, 5], data: Float32Array.of(1, 2, 3, 4, 5) }],
      new Map([['dw.weight', w]]),
    );
    closeTo(y!.data, [30, 40, 51, 2, 3]);
  });

  it('grouped strided conv matches a direct sum', () => {
    const m = build('  return conv2d(self.c, x, out=4, k=3, stride=2, groups=2)', 'f32[B, 2, 5, 5]');
    const x = ramp([2, 2, 5, 5], 0.1);
    const w = ramp([4, 1, 3, 3], 0.01);
    const [y] = interpret(m, [x], new Map([['c.weight', w.data]]));
    expect(y!.shape).toEqual([2, 4, 3, 3]);
    // Output channel 3 reads input channel 1 only; pixel (1, 1) covers input rows/cols 1..3.
    let s = 0;
    for (let ky = 0; ky < 3; ky++)
      for (let kx = 0; kx < 3; kx++)
        s += w.data[27 + ky * 3 + kx]! * x.data[50 + 25 + (1 + ky) * 5 + (1 + kx)]!;
    expect(y!.data[36 + 27 + 4]).toBeCloseTo(s, 5);
  });

  it('polynomial attention: ((q.k) s + 1)^4 normalised by its L1 row sum', () => {
    const m = build(
      [
        '  q = reshape(x, [x.shape[0], 1, 2, 2])',
        '  S = transpose(q, [0, 1, 3, 2]) @ q',
        '  P = l1norm((S * 0.5 + 1) ^ 4, axis=3)',
        '  return P @ transpose(q, [0, 1, 3, 2])',
      ].join('\n'),
      'f32[B, 2, 1, 2]',
    );
    const [y] = interpret(m, [{ shape: [1, 2, 1, 2], data: Float32Array.of(1, 0, 0, 1) }], new Map());
    // q tokens: t0 = (1, 0), t1 = (0, 1); S = I; P rows: (1.5^4, 1) / (1.5^4 + 1).
    const a = 1.5 ** 4 / (1.5 ** 4 + 1);
    const b = 1 / (1.5 ** 4 + 1);
    closeTo(y!.data, [a, b, b, a]);
  });

  it('sigmoid of a parameter and the head: mean over space then linear with bias', () => {
    const m = build(
      '  s = sigmoid(param(self.g, [1]))\n  return linear(self.fc, mean_hw(x * s[0]), out=1)',
      'f32[B, 2, 1, 2]',
    );
    const weights = new Map([
      ['g', Float32Array.of(0)],
      ['fc.weight', Float32Array.of(1, -1)],
      ['fc.bias', Float32Array.of(0.25)],
    ]);
    const [y] = interpret(m, [{ shape: [1, 2, 1, 2], data: Float32Array.of(2, 4, 1, 1) }], weights);
    closeTo(y!.data, [0.5 * 3 - 0.5 * 1 + 0.25]);
  });

  it('ChannelBatchNorm at inference', () => {
    const m = build('  return batchnorm2d(self.bn, x)', 'f32[B, 2, 1, 1]');
    const weights = new Map([
      ['bn.gamma_c', Float32Array.of(1, 2)],
      ['bn.gamma_hw', Float32Array.of(3)],
      ['bn.running_mean', Float32Array.of(1)],
      ['bn.running_var', Float32Array.of(4 - 1e-5)],
    ]);
    const [y] = interpret(m, [{ shape: [1, 2, 1, 1], data: Float32Array.of(5, 3) }], weights);
    closeTo(y!.data, [((5 - 1) / 2) * 3 * 1, ((3 - 1) / 2) * 3 * 2]);
  });
});
