import { describe, expect, it } from 'vitest';
import { printModule } from '../../compiler/src/ir/print.js';
import { readModule } from '../../compiler/src/ir/read.js';
import type { Module } from '../../compiler/src/ir/types.js';
import { op, sampleModule, withOp } from './sample.js';

describe('printModule', () => {
  it('prints the sample module (golden file)', async () => {
    await expect(printModule(sampleModule())).toMatchFileSnapshot('golden/tiny.ir');
  });

  it('prints a minimal module', () => {
    const m: Module = {
      name: 'my model',
      batch: 'N',
      ops: [op(0, 'input', [], { name: 'x' }, ['N', 2]), op(1, 'neg', [0], {}, ['N', 2], null, 's')],
      outputs: [0, 1],
      ignoredKeys: [],
    };
    expect(printModule(m)).toBe(
      [
        'module "my model" batch N {',
        '  %0 = input {name="x"} : f32[N,2]',
        '  %1 = neg(%0) : f32[N,2] scope "s"',
        '  return %0, %1',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('prints an empty module', () => {
    expect(printModule({ name: 'e', batch: 'B', ops: [], outputs: [], ignoredKeys: [] })).toBe(
      'module e batch B {\n  return\n}\n',
    );
  });
});

describe('round trip', () => {
  const roundTrip = (m: Module): void => {
    const text = printModule(m);
    const back = readModule(text);
    expect(back).toEqual(m);
    expect(printModule(back)).toBe(text);
  };

  it('is the identity on the sample module', () => {
    roundTrip(sampleModule());
  });

  it('keeps memory layouts (absent stays absent: NCHW)', () => {
    const m = withOp(sampleModule(), 2, (o) => ({ ...o, type: { ...o.type, layout: 'nc4hw4' } }));
    roundTrip(m);
    expect(printModule(m)).toContain(': f32[B,4,8,8]@nc4hw4 loc(');
    expect(readModule(printModule(m)).ops[4]!.type).not.toHaveProperty('layout');
  });

  it('keeps attribute key order', () => {
    const m = readModule(printModule(sampleModule()));
    const conv = m.ops.find((o) => o.op === 'conv2d')!;
    expect(Object.keys(conv.attrs)).toEqual(['stride', 'pad', 'dilation', 'groups']);
    expect(m.ops.find((o) => o.op === 'mul')!.attrs).toEqual({});
  });

  it('keeps awkward numbers and strings exactly', () => {
    const values = [1e-12, -0, 0.1, 1 / 3, 1.5e300, 5e-324, -2.5e-7, 123456789012345680000];
    const m: Module = {
      name: 'n',
      batch: 'B',
      ops: values.map((value, i) => op(i, 'const', [], { value }, [], null, `s\n"${i}"\u00e9\\`)),
      outputs: [],
      ignoredKeys: ['a "quoted" key', ''],
    };
    roundTrip(m);
    const back = readModule(printModule(m));
    back.ops.forEach((o, i) => {
      expect(Object.is((o.attrs as { value: number }).value, values[i])).toBe(true);
    });
  });

  it('keeps locations, quoted file names and non-identifier dims', () => {
    const m: Module = {
      name: 'm',
      batch: 'batch size',
      ops: [
        op(7, 'input', [], { name: 'x' }, ['batch size', 4], {
          file: 'C:\\a b\\m.poly',
          line: 3,
          col: 1,
          length: 9,
        }),
        op(3, 'reshape', [7], { shape: ['batch size', 2, 2] }, ['batch size', 2, 2]),
        op(4, 'mean', [3], { axes: [], keepdims: false }, ['batch size', 2, 2]),
      ],
      outputs: [4],
      ignoredKeys: [],
    };
    roundTrip(m);
  });
});
