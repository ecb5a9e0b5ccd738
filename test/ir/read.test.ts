import { describe, expect, it } from 'vitest';
import { DiagnosticError } from '../../compiler/src/diagnostics/diagnostic.js';
import { MAX_IR_NESTING, readModule } from '../../compiler/src/ir/read.js';
import { verifyModule } from '../../compiler/src/ir/verify.js';

/** Reads `text`, expecting E0801; returns the diagnostic. */
function readError(text: string) {
  try {
    readModule(text, 'bad.ir');
  } catch (e) {
    expect(e).toBeInstanceOf(DiagnosticError);
    const [d] = (e as DiagnosticError).diagnostics;
    expect(d?.code).toBe('E0801');
    return d!;
  }
  throw new Error('expected readModule to fail');
}

const wrap = (...lines: string[]): string => ['module m batch B {', ...lines, '  return %0', '}'].join('\n');

describe('readModule', () => {
  it('skips // comments to the end of the line, keeping positions', () => {
    const text = [
      '// RUN: polyc opt',
      'module m batch B { // trailing',
      '  %0 = input {name="x"} : f32[B,2]',
      '  return %0',
      '}',
    ].join('\n');
    expect(readModule(text).ops).toHaveLength(1);
    expect(readError(`// a comment\n${wrap('  %0 = input {name="x"} : f32[B,2] $')}`).span).toMatchObject({
      line: 3,
    });
  });

  it('reads the documented format (syntax only: the negative axis is left to the verifier)', () => {
    const m = readModule(
      wrap(
        '  %0 = input {name="image"} : f32[B,3,4,4] loc("m.poly":10:3+5) scope ":model"',
        '  %1 = param {key="w", role="param"} : f32[2,3,1,1]',
        '  %2 = conv2d(%0, %1) {stride=[1,1], pad=[0,0], dilation=[1,1], groups=1} : f32[B,2,4,4]',
        '  %3 = mean(%2) {axes=[-1,2], keepdims=true} : f32[B,2,1,1]',
        '  ignore "head.2.p"',
      ),
    );
    expect(m.name).toBe('m');
    expect(m.batch).toBe('B');
    expect(m.outputs).toEqual([0]);
    expect(m.ignoredKeys).toEqual(['head.2.p']);
    expect(m.ops[0]).toEqual({
      id: 0,
      op: 'input',
      operands: [],
      attrs: { name: 'image' },
      type: { dtype: 'f32', shape: ['B', 3, 4, 4] },
      loc: { file: 'm.poly', line: 10, col: 3, length: 5 },
      scope: ':model',
    });
    expect(m.ops[1]).toMatchObject({ loc: null, scope: '' });
    expect(m.ops[2]!.operands).toEqual([0, 1]);
    expect(m.ops[3]!.attrs).toEqual({ axes: [-1, 2], keepdims: true });
    expect(verifyModule(m).map((d) => d.message)).toEqual([
      '%3 = mean: axis -1 in axes [-1, 2] of mean must be in [0, 4): the IR stores normalised axes',
    ]);
  });

  it('accepts empty operand and attr lists and any whitespace', () => {
    const m = readModule('module m batch B{%0=input(){}:f32[]\r\n\treturn}');
    expect(m.ops[0]).toMatchObject({ operands: [], attrs: {}, type: { shape: [] } });
  });

  it('keeps a __proto__ attribute as an ordinary key', () => {
    const m = readModule(wrap('  %0 = input {__proto__="x"} : f32[B]'));
    expect(Object.keys(m.ops[0]!.attrs)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(m.ops[0]!.attrs)).toBe(Object.prototype);
  });

  it('reports a missing =', () => {
    const d = readError(wrap('  %0 = input {name="x"} : f32[B]', '  %1 neg(%0) : f32[B]'));
    expect(d.message).toBe(`expected '=', found 'neg'`);
    expect(d.span).toEqual({ file: 'bad.ir', line: 3, col: 6, length: 3 });
  });

  it('reports an unknown op kind', () => {
    const d = readError(wrap('  %0 = relu {name="x"} : f32[B]'));
    expect(d.message).toBe(`unknown op kind 'relu'`);
    expect(d.span).toMatchObject({ line: 2, col: 8, length: 4 });
  });

  it('reports bad types', () => {
    let d = readError(wrap('  %0 = input {name="x"} : f64[B]'));
    expect(d.message).toBe(`expected a tensor type like 'f32[B,3]', found 'f64'`);
    expect(d.span).toMatchObject({ line: 2, col: 27 });
    d = readError(wrap('  %0 = input {name="x"} : f32[B,3'));
    expect(d.message).toBe(`expected ']', found 'return'`);
    expect(d.span).toMatchObject({ line: 3, col: 3 });
    d = readError(wrap('  %0 = input {name="x"} : f32[B,2.5]'));
    expect(d.message).toContain('expected a dimension');
    expect(d.span).toMatchObject({ line: 2, col: 33, length: 3 });
  });

  it('reports an unknown layout', () => {
    const d = readError(wrap('  %0 = input {name="x"} : f32[B,3,4,4]@nhwc'));
    expect(d.message).toBe(`expected a layout (nc4hw4), found 'nhwc'`);
    expect(d.span).toMatchObject({ line: 2, col: 40, length: 4 });
  });

  it('reports an unterminated string', () => {
    const d = readError(wrap('  %0 = input {name="image} : f32[B]'));
    expect(d.message).toBe('unterminated string');
    expect(d.span).toMatchObject({ line: 2, col: 20 });
  });

  it('reports other malformed text', () => {
    expect(readError('module m batch B {\n  %0 = input : f32[B] ?\n}').span).toMatchObject({
      line: 2,
      col: 23,
    });
    expect(readError('module m batch B {\n  return\n}\nmore').message).toBe(
      `expected end of input after the module, found 'more'`,
    );
    expect(readError('module m batch B {\n  return').message).toBe(`expected '}', found end of input`);
    expect(readError(wrap('  %0 = input {name="x", name="y"} : f32[B]')).message).toBe(
      `attribute 'name' given twice`,
    );
    expect(readError(wrap('  %0 = input {name=x} : f32[B]')).message).toContain(
      'expected an attribute value',
    );
    expect(readError(wrap('  %x = input : f32[B]')).span).toMatchObject({ line: 2, col: 3 });
    expect(readError(wrap('  %0 = input : f32[B] loc("f":1:2)')).message).toBe(`expected '+', found ')'`);
    expect(readError(wrap('  %0 = input : f32[B] "\\q"')).message).toBe('invalid escape sequence in string');
    expect(readError('').message).toBe(`expected 'module', found end of input`);
    expect(readError(wrap('  %0 = input : f32[B,18446744073709551616]')).message).toBe(
      '18446744073709551616 is beyond 2^53 - 1',
    );
    expect(readError('module m batch B {\n  %0 = input : f32[B]\n  }').message).toBe(
      `expected an op, 'ignore' or 'return', found '}'`,
    );
  });

  describe('nesting is bounded before the reader recurses', () => {
    const codeOf = (text: string): string | undefined => {
      try {
        readModule(text, 'deep.ir');
        return undefined;
      } catch (e) {
        if (!(e instanceof DiagnosticError)) throw e;
        return e.diagnostics[0]!.code;
      }
    };
    const list = (n: number) =>
      wrap(`  %0 = input {name="x", deep=${'['.repeat(n)}1${']'.repeat(n)}} : f32[B]`);
    /** n fused ops, each inside the region of the one before (the verifier refuses it; reading must not crash). */
    const regions = (n: number) => {
      const open = Array.from(
        { length: n },
        () => '%1 = fused(%0) {kind="elementwise"} : f32[B] {\n%0 = arg {index=0} : f32[B]\n',
      );
      const close = Array.from({ length: n }, () => 'yield %0\n}\n').join('');
      return `module m batch B {\n%0 = input {name="x"} : f32[B]\n${open.join('')}${close}return %1\n}`;
    };

    it('attribute lists: at the limit read, one deeper E0803, 5000 deep E0803', () => {
      expect(codeOf(list(MAX_IR_NESTING))).toBeUndefined();
      expect(codeOf(list(MAX_IR_NESTING + 1))).toBe('E0803');
      expect(codeOf(list(5000))).toBe('E0803');
    });

    it('regions: at the limit read, one deeper E0803, 5000 deep E0803', () => {
      expect(codeOf(regions(MAX_IR_NESTING))).toBeUndefined();
      expect(codeOf(regions(MAX_IR_NESTING + 1))).toBe('E0803');
      expect(codeOf(regions(5000))).toBe('E0803');
    });
  });
});
