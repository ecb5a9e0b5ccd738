import { describe, expect, it } from 'vitest';
import { readModule } from '../../compiler/src/ir/read.js';
import { compilePattern, FileCheckError, fileCheck, parseChecks } from './filecheck.js';
import { compareInterpreted, parseRunLine } from './ir-test.js';

/** The checker itself: it must fail where LLVM's FileCheck fails, and say where. */

const OUTPUT = `module m batch B {
  %0 = input {name="x"} : f32[B,4]
  %1 = param {key="w", role="param"} : f32[4]
  %2 = mul(%0, %1) : f32[B,4]
  %3 = neg(%2) : f32[B,4]
  %4 = add(%3, %0) : f32[B,4]
  return %4
}
`;

/** null when the checks in `checks` (a test file's comment lines) hold on `output`, else the message. */
function run(checks: string, output = OUTPUT): string | null {
  return fileCheck(parseChecks(checks, 't.ir'), output, 't.ir');
}

describe('passing checks', () => {
  it.each([
    ['CHECK in order', '// CHECK: input\n// CHECK: mul\n// CHECK: return'],
    ['CHECK may match later on the same line', '// CHECK: %2 = mul\n// CHECK: f32[B,4]'],
    ['CHECK-NEXT on the next line', '// CHECK: mul(\n// CHECK-NEXT: neg(\n// CHECK-NEXT: add('],
    ['CHECK-SAME after the match on its line', '// CHECK: %2 = mul\n// CHECK-SAME: : f32[B,4]'],
    ['CHECK-NOT between matches', '// CHECK: mul\n// CHECK-NOT: input\n// CHECK: return'],
    ['CHECK-NOT at the end', '// CHECK: neg\n// CHECK-NOT: mul'],
    ['CHECK-NOT at the start', '// CHECK-NOT: neg\n// CHECK: input'],
    ['whitespace runs match any run', '// CHECK:     %0   =   input'],
    ['a regex', '// CHECK: %{{[0-9]+}} = neg'],
    [
      'captures and uses',
      '// CHECK: [[X:%[0-9]+]] = input\n// CHECK: [[M:%[0-9]+]] = mul([[X]],\n// CHECK: neg([[M]])',
    ],
    ['a use later on the same line', '// CHECK: add([[A:%[0-9]+]], {{.*}}) : f32[B,4]'],
    ['a character class in a capture', '// CHECK: %[[N:[0-9]]] = neg(%2)\n// CHECK-NEXT: add(%[[N]], %0)'],
    [
      'labels bound the blocks',
      '// CHECK-LABEL: mul(\n// CHECK-NEXT: neg\n// CHECK-LABEL: return\n// CHECK-NOT: mul',
    ],
  ])('%s', (_, checks) => {
    expect(run(checks)).toBeNull();
  });

  it('a back-reference repeats the text on the same line', () => {
    expect(run('// CHECK: mul([[A:%[0-9]+]], [[A]])', '  %5 = mul(%3, %3) : f32[B,4]')).toBeNull();
  });

  it('a variable can be redefined', () => {
    expect(
      run('// CHECK: [[V:%[0-9]+]] = mul\n// CHECK: [[V:%[0-9]+]] = neg\n// CHECK: add([[V]],'),
    ).toBeNull();
  });
});

describe('failing checks name the check line and show the output', () => {
  it('CHECK not found', () => {
    const msg = run('// CHECK: input\n// CHECK: conv2d')!;
    expect(msg).toContain('t.ir:2: CHECK: expected string not found in the output');
    expect(msg).toContain('  CHECK: conv2d');
    expect(msg).toMatch(/>> +2 \| +%0 = input.*<-- previous match/);
  });

  it('CHECK out of order', () => {
    expect(run('// CHECK: neg\n// CHECK: mul')).toContain('t.ir:2: CHECK: expected string not found');
  });

  it('CHECK-NEXT on a later line says where it is', () => {
    const msg = run('// CHECK: input\n// CHECK-NEXT: mul')!;
    expect(msg).toContain(
      't.ir:2: CHECK-NEXT: expected string not found on the line after the previous match',
    );
    expect(msg).toMatch(/>> +3 \|.*<-- expected here/);
    expect(msg).toMatch(/>> +4 \|.*<-- found here instead/);
  });

  it('CHECK-NEXT does not accept the same line', () => {
    expect(run('// CHECK: %2 =\n// CHECK-NEXT: mul')).toContain('CHECK-NEXT: expected string not found');
  });

  it('CHECK-SAME on another line', () => {
    expect(run('// CHECK: %2 = mul\n// CHECK-SAME: neg')).toContain(
      't.ir:2: CHECK-SAME: expected string not found on the same line',
    );
  });

  it('CHECK-SAME before the previous match', () => {
    expect(run('// CHECK: : f32[B,4]\n// CHECK-SAME: input')).not.toBeNull();
  });

  it('CHECK-NOT between matches', () => {
    const msg = run('// CHECK: input\n// CHECK-NOT: neg\n// CHECK: return')!;
    expect(msg).toContain(
      't.ir:2: CHECK-NOT: excluded string found between the previous match and this CHECK (line 3)',
    );
    expect(msg).toMatch(/>> +5 \|.*neg.*<-- found here/);
  });

  it('CHECK-NOT at the end', () => {
    expect(run('// CHECK: mul\n// CHECK-NOT: add')).toContain('CHECK-NOT: excluded string found');
  });

  it('CHECK-NOT before the first match', () => {
    expect(run('// CHECK-NOT: param\n// CHECK: mul')).toContain(
      't.ir:1: CHECK-NOT: excluded string found before',
    );
  });

  it('CHECK-NOT is bounded by the next label', () => {
    expect(run('// CHECK-LABEL: input\n// CHECK-NOT: neg\n// CHECK-LABEL: add')).toContain(
      'excluded string found',
    );
    expect(run('// CHECK-LABEL: input\n// CHECK-NOT: return\n// CHECK-LABEL: add')).toBeNull();
  });

  it('a check does not match past the next label', () => {
    expect(run('// CHECK-LABEL: input\n// CHECK-LABEL: mul\n// CHECK: input')).toContain(
      'expected string not found before the next label',
    );
    expect(run('// CHECK-LABEL: mul\n// CHECK-LABEL: neg\n// CHECK: add')).toBeNull();
  });

  it('a missing label', () => {
    expect(run('// CHECK-LABEL: conv2d\n// CHECK: mul')).toContain('t.ir:1: CHECK-LABEL: label not found');
  });

  it('a use of a captured value must match that value', () => {
    const msg = run('// CHECK: [[X:%[0-9]+]] = param\n// CHECK: mul([[X]],')!;
    expect(msg).toContain('t.ir:2: CHECK: expected string not found');
    expect(msg).toContain('with [[X]] = "%1"');
  });

  it('a back-reference must repeat the text', () => {
    expect(run('// CHECK: mul([[A:%[0-9]+]], [[A]])')).toContain('expected string not found');
  });

  it('regex metacharacters in literal text are literal', () => {
    expect(run('// CHECK: f32[B.4]')).not.toBeNull();
    expect(run('// CHECK: mul(%0, %1)')).toBeNull();
  });
});

describe('malformed checks are errors, not passes', () => {
  it.each([
    ['a misspelt directive', '// CHECK-NXT: mul'],
    ['a directive without a colon', '// CHECK mul'],
    ['an empty pattern', '// CHECK:'],
  ])('%s', (_, checks) => {
    expect(() => parseChecks(checks, 't.ir')).toThrow(FileCheckError);
  });

  it.each([
    ['an undefined variable', '// CHECK: mul([[NOPE]],'],
    ['an invalid regex', '// CHECK: {{(}}'],
    ['an unterminated regex', '// CHECK: {{abc'],
    ['an unterminated variable', '// CHECK: [[X:abc'],
    ['a variable defined twice on one line', '// CHECK: [[X:a]] [[X:b]]'],
    ['CHECK-NEXT with nothing before it', '// CHECK-NEXT: input'],
    ['only CHECK-NOT lines', '// CHECK-NOT: conv2d'],
    ['a variable in a label', '// CHECK-LABEL: [[X:%0]]'],
    ['a variable defined in CHECK-NOT', '// CHECK: input\n// CHECK-NOT: [[X:conv]]'],
  ])('%s', (_, checks) => {
    expect(() => run(checks)).toThrow(FileCheckError);
  });

  it('no checks at all', () => {
    expect(() => run('// nothing to check')).toThrow(FileCheckError);
  });

  it('ordinary comments mentioning checks in prose are fine', () => {
    expect(parseChecks('// Intent: the CSE must fire.\n// CHECK: input', 't.ir')).toHaveLength(1);
  });
});

describe('compilePattern', () => {
  it('escapes literals and joins whitespace', () => {
    expect(compilePattern('a(b)  c', new Map()).regex.source).toBe('a\\(b\\)[ \\t]+c');
  });
  it('substitutes variables as literal text', () => {
    expect(compilePattern('[[V]]', new Map([['V', '%1.5']])).regex.source).toBe('%1\\.5');
  });
});

describe('test files', () => {
  it('RUN lines', () => {
    expect(parseRunLine('// RUN: polyc opt --passes=cse,dce --strip-locations', 't.ir')).toEqual({
      passes: 'cse,dce',
      locations: false,
    });
    expect(parseRunLine('// RUN: polyc opt %s --passes=dce', 't.ir')).toEqual({
      passes: 'dce',
      locations: true,
    });
    expect(() => parseRunLine('// CHECK: x', 't.ir')).toThrow(/exactly one/);
    expect(() => parseRunLine('// RUN: polyc opt --passes=a\n// RUN: polyc opt --passes=b', 't.ir')).toThrow(
      /exactly one/,
    );
    expect(() => parseRunLine('// RUN: polyc opt --passes=dce --fast', 't.ir')).toThrow(/unknown argument/);
    expect(() => parseRunLine('// RUN: mlir-opt --passes=dce', 't.ir')).toThrow(/polyc opt/);
    expect(() => parseRunLine('// RUN: polyc opt', 't.ir')).toThrow(/--passes=/);
  });
});

describe('the interpreter check', () => {
  const scaled = (body: string) =>
    readModule(`module m batch B {
  %0 = input {name="x"} : f32[B,4,3,3]
  %1 = param {key="w", role="param"} : f32[4,4,1,1]
  %2 = param {key="g", role="param"} : f32[4]
  %3 = layernorm2d(%0, %2) {eps=0.00001} : f32[B,4,3,3]
  ${body}
}`);
  const before = scaled(
    '%4 = conv2d(%3, %1) {stride=[1,1], pad=[0,0], dilation=[1,1], groups=1} : f32[B,4,3,3]\n  return %4',
  );

  it('accepts the same computation', () => {
    expect(compareInterpreted(before, before)).toBeNull();
  });

  it('rejects a dropped gain (random gains are 1 +- 0.1, far above the tolerance)', () => {
    const dropped = readModule(`module m batch B {
  %0 = input {name="x"} : f32[B,4,3,3]
  %1 = param {key="w", role="param"} : f32[4,4,1,1]
  %2 = layernorm2d(%0) {eps=0.00001} : f32[B,4,3,3]
  %3 = conv2d(%2, %1) {stride=[1,1], pad=[0,0], dilation=[1,1], groups=1} : f32[B,4,3,3]
  return %3
}`);
    expect(compareInterpreted(before, dropped)).toMatch(/output 0 \(seed 1\): relative error .* > 0.00001/);
  });

  it('rejects a check that would prove nothing', () => {
    const zero = scaled('%4 = sub(%3, %3) : f32[B,4,3,3]\n  return %4');
    expect(compareInterpreted(zero, zero)).toMatch(/prove nothing/);
  });
});
