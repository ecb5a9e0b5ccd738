import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../compiler/src/diagnostics/diagnostic.js';
import { buildModel, MAX_IMPORT_DEPTH } from '../../compiler/src/driver/frontend.js';
import { MAX_INTERPRETED_ELEMENTS, runModel } from '../../compiler/src/driver/run.js';
import { DEFAULT_LIMITS, type Limits, parseLimits } from '../../compiler/src/frontend/limits.js';
import { MAX_NESTING } from '../../grammars/poly.js';

/**
 * Every limit of docs/language.md#limits at its boundary (at the limit the model builds, one over
 * gives the code), and the fuzz campaign's reproducers (issue 14), which crashed the compiler with a
 * stack overflow, ran out of memory or ran for minutes.
 */

const HEAD = 'model m(x: f32[B, 3, 8, 8]) {';

/** The codes of building `src` (a whole file), [] when it builds. */
function codes(src: string, limits: Partial<Limits> = {}): string[] {
  return diagnostics(src, limits).map((d) => d.code);
}

function diagnostics(src: string, limits: Partial<Limits> = {}): readonly Diagnostic[] {
  const r = buildModel('t.poly', { readFile: (p) => (p === 't.poly' ? src : null) }, {}, undefined, {
    ...DEFAULT_LIMITS,
    ...limits,
  });
  return r.diagnostics;
}

/** A model whose body computes `stmts` and returns its input. */
const body = (stmts: string): string => `${HEAD}\n${stmts}\n  return x\n}\n`;

describe('nesting in the source (no flag: deeper would overflow the parser)', () => {
  const nestings: Record<string, (n: number) => string> = {
    parentheses: (n) => body(`y = ${'('.repeat(n)}1${')'.repeat(n)}`),
    lists: (n) => body(`y = ${'['.repeat(n)}1${']'.repeat(n)}`),
    calls: (n) => body(`y = ${'max(1, '.repeat(n)}1${')'.repeat(n)}`),
    indexing: (n) => body(`l = [0]\n  y = ${'l['.repeat(n)}0${']'.repeat(n)}`),
    'unary minus': (n) => body(`y = ${'- '.repeat(n)}1`),
    not: (n) => body(`y = ${'not '.repeat(n)}true`),
    '^ chains': (n) => body(`y = ${'1 ^ '.repeat(n)}1`),
    'if-expressions': (n) => body(`y = ${'if true then '.repeat(n)}1${' else 1'.repeat(n)}`),
    'if blocks': (n) => body(`${'if true { '.repeat(n)}y = 1${' }'.repeat(n)}`),
    'for blocks': (n) => body(`${'for i in 0 .. 1 { '.repeat(n)}y = 1${' }'.repeat(n)}`),
  };
  for (const [what, make] of Object.entries(nestings)) {
    it(`${what}: ${MAX_NESTING} levels build, ${MAX_NESTING + 1} are E0105, 5000 too`, () => {
      expect(codes(make(MAX_NESTING))).toEqual([]);
      expect(codes(make(MAX_NESTING + 1))).toEqual(['E0105']);
      expect(codes(make(5000))).toEqual(['E0105']);
    });
  }

  it('points at the token that opens the level too many', () => {
    const [d] = diagnostics(body(`y = ${'('.repeat(MAX_NESTING + 1)}1${')'.repeat(MAX_NESTING + 1)}`));
    expect(d!.span).toMatchObject({ line: 2, col: 5 + MAX_NESTING });
    expect(d!.message).toBe(`brackets, blocks and operators nest deeper than ${MAX_NESTING} levels here`);
  });

  it('long chains of binary operators, fields and indices are loops, not nesting', () => {
    expect(codes(body(`y = ${Array(20000).fill('1').join(' + ')}\n  assert y == 20000`))).toEqual([]);
    expect(codes(body(`y = ${Array(5000).fill('true').join(' and ')}\n  assert y`))).toEqual([]);
    expect(codes(body(`p = self${'.a'.repeat(20000)}`))).toEqual([]);
    expect(codes(body(`y = x${'[:, :]'.repeat(3000)}`))).toEqual([]);
  });

  it('else-if chains of any length are one expression', () => {
    const chain = Array.from({ length: 2000 }, (_, i) => `if y == ${i} then ${i}`).join(' else ');
    expect(codes(body(`y = 1999\n  z = ${chain} else -1\n  assert z == 1999`))).toEqual([]);
    expect(codes(body(`y = 5000\n  z = ${chain} else -1\n  assert z == -1`))).toEqual([]);
  });

  it('else-if chains of any length are one statement', () => {
    const chain = Array.from({ length: 2000 }, (_, i) => `if y == ${i} { z = ${i} }`).join(' else ');
    expect(codes(body(`y = 1999\n  z = -1\n  ${chain}\n  assert z == 1999`))).toEqual([]);
  });

  it('evaluation nesting across block calls is E0306, not a stack overflow', () => {
    const open = '['.repeat(30);
    const close = ']'.repeat(30);
    const src = `block f(n: int) { if n > 0 { return ${open}f(n - 1)${close} } return 0 }\n${body('y = f(60)')}`;
    expect(codes(src)).toContain('E0306');
  });

  it('a list doubled into itself counts everything it holds: refused before printing or comparing it', () => {
    // 2^20 items in all after 19 doublings, though only 2 at the top.
    const doubled = body('l = [1]\n  for i in 0 .. 40 { l = [l, l] }\n  y = l == l');
    expect(codes(doubled)).toEqual(['E0309']);
    expect(codes(body('m = {1: 1}\n  for i in 0 .. 40 { m = {1: m, 2: m} }\n  assert m == m'))).toEqual([
      'E0309',
    ]);
    expect(codes(body('l = [range(999999)] * 1000000'))).toEqual(['E0309']);
    expect(codes(body('l = [range(999999)]\n  assert len(l) == 1'))).toEqual([]);
  });

  it('lists nested by a loop stop at 100 levels (printing and comparing them recurse)', () => {
    const nest = (n: number) => body(`l = 1\n  for i in 0 .. ${n} { l = [l] + [] }\n  assert l == l`);
    expect(codes(nest(100))).toEqual([]);
    expect(codes(nest(101))).toEqual(['E0309']);
  });
});

describe('compile-time work', () => {
  it('eval-steps: the exponential recursion f(40) is stopped (E0309), at the call chain', () => {
    const src = `block f(n: int) { if n > 0 { a = f(n - 1)  b = f(n - 1) } return 0 }\n${body('y = f(40)')}`;
    const ds = diagnostics(src);
    expect(ds.map((d) => d.code)).toEqual(['E0309']);
    expect(ds[0]!.message).toBe(
      `compile-time evaluation takes more than ${DEFAULT_LIMITS['eval-steps']} steps`,
    );
    expect(ds[0]!.notes.map((n) => n.message)).toContain(
      "the limit is 'eval-steps'; raise it with --limit eval-steps=N if the model really needs more",
    );
  });

  it('eval-steps: list work counts, so a list grown one item at a time or searched in a long loop is stopped', () => {
    expect(codes(body('l = []\n  for i in 0 .. 1000 { l = l + [i] }'))).toEqual([]);
    expect(codes(body('l = []\n  for i in 0 .. 100000 { l = l + [i] }'))).toEqual(['E0309']);
    expect(codes(body('l = range(1000000)\n  for i in 0 .. 100000 { y = -1 in l }'))).toEqual(['E0309']);
  });

  it('eval-steps: a program that fits builds; one step less is E0309', () => {
    const src = body('s = 0\n  for i in 0 .. 10 { s = s + i }');
    // The smallest limit it builds within, found by bisection: the limit counts exactly.
    let lo = 1;
    let hi = 10_000;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (codes(src, { 'eval-steps': mid }).length === 0) hi = mid;
      else lo = mid + 1;
    }
    expect(lo).toBeGreaterThan(10);
    expect(codes(src, { 'eval-steps': lo })).toEqual([]);
    expect(codes(src, { 'eval-steps': lo - 1 })).toEqual(['E0309']);
  });

  it('loop-iterations: 100000 run, 100001 are E0309 before the first; 4294967296 too', () => {
    expect(codes(body('for i in 0 .. 100000 { }'))).toEqual([]);
    expect(codes(body('for i in 0 .. 100001 { }'))).toEqual(['E0309']);
    expect(codes(body('for i in 0 .. 4294967296 { }'))).toEqual(['E0309']);
    expect(codes(body('for i in 0 .. 6 { }'), { 'loop-iterations': 5 })).toEqual(['E0309']);
  });

  it('list-length: [0] * n, range(n) and + are refused before the list is made', () => {
    expect(codes(body('l = [0] * 1000000\n  assert len(l) == 1000000'))).toEqual([]);
    expect(codes(body('l = [0] * 1000001'))).toEqual(['E0309']);
    expect(codes(body('l = [0] * 4294967296'))).toEqual(['E0309']);
    expect(codes(body('l = range(1000000)'))).toEqual([]);
    expect(codes(body('l = range(1000001)'))).toEqual(['E0309']);
    expect(codes(body('l = range(4294967296)'))).toEqual(['E0309']);
    expect(codes(body('l = [1, 2] + [3]'), { 'list-length': 3 })).toEqual([]);
    expect(codes(body('l = [1, 2] + [3, 4]'), { 'list-length': 3 })).toEqual(['E0309']);
  });

  it('string-length: a string doubled in a loop is refused by the limit', () => {
    expect(codes(body('s = "ab" + "cd"'), { 'string-length': 4 })).toEqual([]);
    expect(codes(body('s = "ab" + "cde"'), { 'string-length': 4 })).toEqual(['E0309']);
    const doubled = (n: number) => body(`s = "a"\n  for i in 0 .. ${n} { s = s + s }`);
    // 2^19 characters fit in the default 10^6; 2^20 do not.
    expect(codes(doubled(19))).toEqual([]);
    expect(codes(doubled(20))).toEqual(['E0309']);
    expect(codes(doubled(100))).toEqual(['E0309']);
  });

  it('integers beyond 2^53 are E0310: literals and arithmetic', () => {
    expect(codes(body('y = 9007199254740991'))).toEqual([]);
    expect(codes(body('y = 9007199254740992'))).toEqual(['E0310']);
    expect(codes(body('y = 99999999999999999999'))).toEqual(['E0310']);
    expect(codes(body('y = 2 ^ 52 + (2 ^ 52 - 1)'))).toEqual([]);
    expect(codes(body('y = 2 ^ 53'))).toEqual(['E0310']);
    expect(codes(body('y = 4294967296 * 4294967296'))).toEqual(['E0310']);
    expect(codes(body('y = int(1e300)'))).toEqual(['E0310']);
  });
});

describe('model size', () => {
  // input, pwconv weight, conv: 3 ops.
  const conv = body('y = pwconv(self.c, x, out=4)');

  it('ops: at the limit builds, one over is E0407', () => {
    expect(codes(conv, { ops: 3 })).toEqual([]);
    expect(codes(conv, { ops: 2 })).toEqual(['E0407']);
  });

  it('tensor-elements: per image, at the limit builds, one over is E0407', () => {
    // The largest tensor is the input, 3 x 8 x 8 = 192 per image (the conv's output has 4 x 8 x 8).
    const input = body('y = 1');
    expect(codes(input, { 'tensor-elements': 192 })).toEqual([]);
    expect(codes(input, { 'tensor-elements': 191 })).toEqual(['E0407']);
    expect(codes(conv, { 'tensor-elements': 255 })).toEqual(['E0407']);
  });

  it('param-bytes: 4 bytes a float, at the limit builds, one over is E0407', () => {
    // The pwconv weight is [4, 3, 1, 1]: 48 bytes.
    expect(codes(conv, { 'param-bytes': 48 })).toEqual([]);
    expect(codes(conv, { 'param-bytes': 47 })).toEqual(['E0407']);
  });

  it('a huge conv is refused where it is written, before anything is allocated', () => {
    const ds = diagnostics(body('y = pwconv(self.c, x, out=100000000000)'));
    expect(ds.map((d) => d.code)).toEqual(['E0407']);
    expect(ds[0]!.span).toMatchObject({ line: 2, col: 5 });
  });

  it('tensor powers: x ^ 1024 builds, x ^ 1025 and x ^ 4294967296 are E0502 (kernels write them out)', () => {
    expect(codes(body('y = x ^ 1024'))).toEqual([]);
    expect(codes(body('y = x ^ 1025'))).toEqual(['E0502']);
    expect(codes(body('y = x ^ 4294967296'))).toEqual(['E0502']);
  });

  it('tensor dimensions must be positive (E0406 at the shape, not a verifier error)', () => {
    for (const shape of ['[0]', '[-1]', '[4, 0]']) {
      const ds = diagnostics(body(`w = param(self.w, ${shape})`));
      expect(ds.map((d) => d.code)).toEqual(['E0406']);
      expect(ds[0]!.span).toMatchObject({ line: 2, col: 19 });
    }
    expect(codes(body('y = reshape(x, [x.shape[0], -3, -64])'))).toEqual(['E0406']);
  });
});

describe('--limit', () => {
  it('overrides one limit, keeps the others, accepts _ separators', () => {
    expect(parseLimits(['eval-steps=50_000_000'])).toEqual({ ...DEFAULT_LIMITS, 'eval-steps': 50_000_000 });
  });

  it('refuses unknown names and values that are not positive integers (E0701)', () => {
    for (const bad of ['steps=5', 'ops=0', 'ops=-1', 'ops=1.5', 'ops=', 'ops', 'ops=99999999999999999999']) {
      expect(() => parseLimits([bad]), bad).toThrow(/--limit/);
    }
  });
});

describe('the interpreter', () => {
  it('refuses a batch whose tensors would not fit (E0703), before allocating them', () => {
    const src = 'model m(x: f32[B, 1, 1, 1]) {\n  return pwconv(self.c, x, out=8388608)\n}\n';
    const r = buildModel('t.poly', { readFile: () => src });
    // 2^23 elements per image: a batch of 128 is exactly the interpreter's 2^30, 129 are over.
    expect(MAX_INTERPRETED_ELEMENTS).toBe(128 * 8388608);
    const input = { shape: [129, 1, 1, 1], data: new Float32Array(129) };
    expect(() => runModel(r.model!.module, input, new Map())).toThrow(/a batch of 129 needs a tensor/);
  });
});

describe('imports', () => {
  /** f0.poly imports f1.poly ... imports f<n>.poly, which holds the model: n + 1 files. */
  const chain = (n: number) => {
    const files = new Map<string, string>();
    for (let i = 0; i < n; i++) files.set(`f${i}.poly`, `import "f${i + 1}.poly"\n`);
    files.set(`f${n}.poly`, body('y = 1'));
    return buildModel('f0.poly', { readFile: (p) => files.get(p) ?? null }).diagnostics.map((d) => d.code);
  };

  it('a chain of imports: 64 files build, 65 are E0209, 5000 too', () => {
    expect(chain(MAX_IMPORT_DEPTH - 1)).toEqual([]);
    expect(chain(MAX_IMPORT_DEPTH)).toEqual(['E0209']);
    expect(chain(5000)).toEqual(['E0209']);
  });
});
