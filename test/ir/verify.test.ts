import { describe, expect, it } from 'vitest';
import { InternalError } from '../../compiler/src/diagnostics/diagnostic.js';
import { readModule } from '../../compiler/src/ir/read.js';
import type { Module, Op } from '../../compiler/src/ir/types.js';
import { assertVerified, verifyModule } from '../../compiler/src/ir/verify.js';
import { op, sampleModule, withOp } from './sample.js';

const messages = (m: Module): string[] => verifyModule(m).map((d) => d.message);

/** `sampleModule()` with op `id` given the fields in `patch`. */
const patched = (id: number, patch: Record<string, unknown>): Module =>
  withOp(sampleModule(), id, (o) => ({ ...o, ...patch }));

describe('verifyModule', () => {
  it('accepts the sample module', () => {
    expect(verifyModule(sampleModule())).toEqual([]);
    expect(() => assertVerified(sampleModule())).not.toThrow();
  });

  it('reports E0802 with the op location and names the op', () => {
    const [d, ...rest] = verifyModule(patched(13, { operands: [10, 99] }));
    expect(rest).toEqual([]);
    expect(d).toMatchObject({
      code: 'E0802',
      severity: 'error',
      message: '%13 = mul: uses undefined value %99',
      span: { file: 'examples/tiny.poly', line: 16, col: 9, length: 1 },
    });
    // Ops without a location give a diagnostic without a span.
    expect(verifyModule(patched(16, { operands: [13, 99] }))[0]!.span).toBeUndefined();
  });

  it('accepts a layout on rank-4 values only, and no layout inside regions', () => {
    const layout = (id: number, value: string) =>
      messages(withOp(sampleModule(), id, (o) => ({ ...o, type: { ...o.type, layout: value } }) as Op));
    expect(layout(2, 'nc4hw4')).toEqual([]);
    expect(layout(24, 'nc4hw4')).toEqual([
      '%24 = reshape: layout nc4hw4 needs a rank-4 value, f32[B,2,64] has rank 3',
    ]);
    expect(layout(2, 'nchw')).toEqual([
      `%2 = conv2d: unknown layout 'nchw' (known: nc4hw4; NCHW is written by omitting it)`,
    ]);
    const fused = readModule(`module m batch B {
  %0 = input {name="x"} : f32[B,4,3,3]
  %1 = fused(%0) {kind="elementwise"} : f32[B,4,3,3]@nc4hw4 {
    %0 = arg {index=0} : f32[B,4,3,3]@nc4hw4
    %1 = mul(%0, %0) : f32[B,4,3,3]
    yield %1
  }
  return %1
}`);
    expect(messages(fused)).toEqual([
      '%0 = arg (in a fused region): values inside a fused region have no layout (nc4hw4)',
    ]);
    expect(verifyModule(fused)[0]!.code).toBe('E0802');
  });

  it('requires unique ids', () => {
    expect(messages(patched(3, { id: 2 }))).toContain('%2 = param: value %2 is defined twice');
  });

  it('requires operands to be defined before use', () => {
    expect(messages(patched(13, { operands: [10, 22] }))).toEqual([
      '%13 = mul: uses %22 before it is defined',
    ]);
    // An op using its own result.
    expect(messages(patched(20, { operands: [20] }))).toEqual(['%20 = neg: uses %20 before it is defined']);
  });

  it('checks arity', () => {
    expect(messages(patched(13, { operands: [10] }))).toEqual(['%13 = mul: takes 2 operands, got 1']);
    expect(messages(patched(31, { operands: [28] }))).toEqual(['%31 = linear: takes 2 to 3 operands, got 1']);
    expect(messages(patched(0, { operands: [] }))).toEqual([]);
  });

  it('checks attrs against the schema of the op kind', () => {
    expect(
      messages(patched(2, { attrs: { stride: [1, 1], pad: [1, 1], dilation: [1, 1], groups: '1' } })),
    ).toEqual([`%2 = conv2d: attribute 'groups' must be a positive integer, got "1"`]);
    expect(
      messages(patched(2, { attrs: { stride: [1], pad: [1, 1], dilation: [1, 1], groups: 1 } })),
    ).toEqual([`%2 = conv2d: attribute 'stride' must be a pair of positive integers, got [1]`]);
    expect(messages(patched(27, { attrs: { axes: [2] } }))).toEqual([
      `%27 = sum: missing attribute 'keepdims'`,
    ]);
    expect(messages(patched(13, { attrs: { axis: 1 } }))).toEqual([`%13 = mul: unexpected attribute 'axis'`]);
    expect(messages(patched(7, { attrs: { key: 'bn.running_mean', role: 'state' } }))).toEqual([
      `%7 = param: attribute 'role' must be 'param' or 'buffer', got "state"`,
    ]);
    expect(messages(patched(1, { attrs: null }))).toEqual(['%1 = param: attrs must be an object']);
    expect(messages(patched(24, { attrs: { shape: ['B', 2.5, 64] } }))).toEqual([
      `%24 = reshape: attribute 'shape' must be an array of dimensions, got ["B",2.5,64]`,
    ]);
  });

  it('checks the recorded type against inference', () => {
    expect(messages(patched(2, { type: { dtype: 'f32', shape: ['B', 4, 6, 6] } }))).toEqual([
      '%2 = conv2d: records type f32[B,4,6,6] but its operands give f32[B,4,8,8]',
      // The wrong type then feeds the next op.
      '%4 = layernorm2d: records type f32[B,4,8,8] but its operands give f32[B,4,6,6]',
    ]);
    expect(messages(patched(19, { operands: [17, 1] }))).toEqual([
      '%19 = sub: shapes [B, 2, 8, 8] and [4, 3, 3, 3] do not broadcast',
    ]);
    expect(messages(patched(26, { operands: [24, 24] }))).toEqual([
      '%26 = matmul: matmul inner dimensions differ: [B, 2, 64] @ [B, 2, 64]',
    ]);
  });

  it('checks const shapes and dims', () => {
    expect(messages(patched(18, { type: { dtype: 'f32', shape: [1] } }))[0]).toBe(
      '%18 = const: a const must have shape [], got f32[1]',
    );
    expect(messages(patched(1, { type: { dtype: 'f32', shape: [4, 3, 0, 3] } }))).toEqual([
      '%1 = param: dimension 2 of f32[4,3,0,3] must be a positive integer',
    ]);
    expect(messages(patched(1, { type: { dtype: 'f16', shape: [4] } }))[0]).toContain(
      'result type must be f32',
    );
  });

  it('allows only the batch dimension, only on axis 0', () => {
    expect(messages(patched(0, { type: { dtype: 'f32', shape: ['N', 3, 8, 8] } }))[0]).toBe(
      `%0 = input: symbolic dimension 'N' in f32[N,3,8,8] is not the batch dimension 'B'`,
    );
    expect(messages(patched(25, { type: { dtype: 'f32', shape: [64, 'B', 2] } }))[0]).toBe(
      `%25 = transpose: batch dimension 'B' must be axis 0, not axis 1 of f32[64,B,2]`,
    );
  });

  it('requires unique param keys', () => {
    expect(messages(patched(30, { attrs: { key: 'head.weight', role: 'param' } }))).toContain(
      '%30 = param: checkpoint key "head.weight" already used by %29',
    );
  });

  it('requires outputs to be defined', () => {
    const d = verifyModule({ ...sampleModule(), outputs: [31, 40] });
    expect(d).toEqual([
      { code: 'E0802', severity: 'error', message: 'module output %40 is not defined', notes: [] },
    ]);
  });

  it('allows sigmoid only on parameter-derived values', () => {
    // %16 = mul(%13, %15) depends on the input.
    expect(messages(patched(15, { operands: [13], type: { dtype: 'f32', shape: ['B', 2, 8, 8] } }))).toEqual([
      '%15 = sigmoid: non-polynomial function applied to %13, which depends on the model input',
    ]);
    // Arithmetic on params and consts stays parameter-derived.
    const m = sampleModule();
    const ok: Module = {
      ...m,
      ops: [
        ...m.ops,
        op(40, 'mul', [14, 18], {}, [1]),
        op(41, 'sigmoid', [40], {}, [1]),
        op(42, 'sigmoid', [41], {}, [1]),
        op(43, 'add', [42, 0], {}, ['B', 3, 8, 8]),
        op(44, 'sigmoid', [43], {}, ['B', 3, 8, 8]),
      ],
    };
    expect(messages(ok)).toEqual([
      '%44 = sigmoid: non-polynomial function applied to %43, which depends on the model input',
    ]);
  });

  it('requires positive integer powers', () => {
    expect(messages(patched(17, { attrs: { exponent: 2.5 } }))).toEqual([
      '%17 = pow: exponent must be a positive integer, got 2.5',
    ]);
    expect(messages(patched(17, { attrs: { exponent: 0 } }))).toEqual([
      '%17 = pow: exponent must be a positive integer, got 0',
    ]);
  });

  it('requires axes normalised: each axis attribute in [0, rank) of the first operand', () => {
    expect(messages(patched(12, { attrs: { axis: -1 } }))).toEqual([
      '%12 = flip: axis -1 of flip must be in [0, 4): the IR stores normalised axes',
    ]);
    expect(messages(patched(10, { attrs: { axis: 4, start: 0, end: 2 } }))).toEqual([
      '%10 = slice: axis 4 of slice must be in [0, 4): the IR stores normalised axes',
    ]);
    expect(messages(patched(23, { attrs: { axis: -3, eps: 1e-12 } }))).toEqual([
      '%23 = l1norm: axis -3 of l1norm must be in [0, 4): the IR stores normalised axes',
    ]);
    expect(messages(patched(28, { attrs: { axes: [-1], keepdims: false } }))).toEqual([
      '%28 = mean: axis -1 in axes [-1] of mean must be in [0, 3): the IR stores normalised axes',
    ]);
    expect(messages(patched(27, { attrs: { axes: [1, 3], keepdims: true } }))).toEqual([
      '%27 = sum: axis 3 in axes [1, 3] of sum must be in [0, 3): the IR stores normalised axes',
    ]);
  });

  it('reports unknown op kinds without throwing', () => {
    expect(messages(patched(20, { op: 'relu' }))).toEqual([`%20 = relu: unknown op kind 'relu'`]);
  });

  it('verifies modules read from text', () => {
    const m = readModule(
      'module m batch B {\n  %0 = input {name="x"} : f32[B,2]\n  %1 = add(%0, %0) {alpha=1} : f32[B,3] loc("t.ir":3:3+2)\n  return %1\n}',
    );
    expect(verifyModule(m)).toEqual([
      {
        code: 'E0802',
        severity: 'error',
        message: `%1 = add: unexpected attribute 'alpha'`,
        span: { file: 't.ir', line: 3, col: 3, length: 2 },
        notes: [],
      },
    ]);
  });
});

describe('assertVerified', () => {
  it('throws an InternalError listing every problem', () => {
    const bad = withOp(
      patched(13, { operands: [10, 99] }),
      17,
      (o) => ({ ...o, attrs: { exponent: -1 } }) as Op,
    );
    expect(() => assertVerified(bad, 'after fold')).toThrow(InternalError);
    expect(() => assertVerified(bad, 'after fold')).toThrow(
      [
        "internal compiler error: invalid IR in module 'tiny' after fold:",
        '  %13 = mul: uses undefined value %99 (examples/tiny.poly:16:9)',
        '  %17 = pow: exponent must be a positive integer, got -1',
      ].join('\n'),
    );
  });
});
