import fc from 'fast-check';
import { applyTokenEdits, EXTREME_INTEGERS, HUGE_INTEGERS, tokenEdits, tokenize } from './mutate.js';

/**
 * Generators of `.poly` programs (docs/language.md, grammars/poly.ts): valid ones built from the
 * grammar's statements and the builtins, and almost-valid ones: token edits of valid programs,
 * deep nesting of every recursive construct, and compile-time work amplifiers. A case is plain data
 * (the source text and the `--set` settings), so workers can receive it and reproducers are files.
 */

export interface PolyCase {
  readonly text: string;
  readonly settings: Readonly<Record<string, string>>;
}

/** A statement of a block body over `x: [B, C, H, W]` (C even), as data; `render` names its keys. */
type Stmt =
  | { readonly kind: 'pw' | 'ln' | 'bn' | 'scale' | 'prod' | 'gate' | 'halves' | 'slices' | 'attn' }
  | { readonly kind: 'dw'; readonly k: 1 | 3 | 5; readonly dilation: 1 | 2 }
  | { readonly kind: 'conv'; readonly k: 1 | 3; readonly groups: 1 | 2 }
  | { readonly kind: 'pow'; readonly p: 1 | 2 | 3 }
  | { readonly kind: 'assert'; readonly cond: string }
  | { readonly kind: 'if'; readonly cond: string; readonly then: Stmt[]; readonly else: Stmt[] }
  | { readonly kind: 'for'; readonly n: string; readonly body: Stmt[] };

/** Compile-time int expressions over the block's `C` and literals; never divide by zero. */
const intExpr: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('C', '1', '2', '3', '7', 'K0'),
    fc.tuple(tie('e'), fc.constantFrom('+', '-', '*'), tie('e')).map(([a, op, b]) => `(${a} ${op} ${b})`),
    fc
      .tuple(tie('e'), fc.constantFrom('//', '%'), fc.integer({ min: 1, max: 9 }))
      .map(([a, op, b]) => `(${a} ${op} ${b})`),
    fc.tuple(fc.constantFrom('max', 'min'), tie('e'), tie('e')).map(([f, a, b]) => `${f}(${a}, ${b})`),
    tie('e').map((a) => `int(${a} * 0.5)`),
    tie('e').map((a) => `len(range(min(max(${a}, 0), 4)))`),
    fc.tuple(tie('e'), tie('e')).map(([a, b]) => `(if ${a} > ${b} then ${a} else ${b})`),
  ),
})).e;

const condition: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(intExpr, fc.constantFrom('==', '!=', '<', '<=', '>', '>='), intExpr)
    .map(([a, op, b]) => `${a} ${op} ${b}`),
  fc.tuple(intExpr, fc.constantFrom('and', 'or'), intExpr).map(([a, op, b]) => `${a} > 2 ${op} ${b} < 5`),
  intExpr.map((a) => `not ${a} in [1, 2, 4]`),
);

const stmt: fc.Arbitrary<Stmt> = fc.letrec<{ s: Stmt; body: Stmt[] }>((tie) => ({
  s: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<Stmt>(
      { kind: 'pw' },
      { kind: 'ln' },
      { kind: 'bn' },
      { kind: 'scale' },
      { kind: 'prod' },
      { kind: 'gate' },
      { kind: 'halves' },
      { kind: 'slices' },
      { kind: 'attn' },
    ),
    fc.record({
      kind: fc.constant('dw' as const),
      k: fc.constantFrom(1 as const, 3 as const, 5 as const),
      dilation: fc.constantFrom(1 as const, 2 as const),
    }),
    fc.record({
      kind: fc.constant('conv' as const),
      k: fc.constantFrom(1 as const, 3 as const),
      groups: fc.constantFrom(1 as const, 2 as const),
    }),
    fc.record({ kind: fc.constant('pow' as const), p: fc.constantFrom(1 as const, 2 as const, 3 as const) }),
    intExpr.map((e): Stmt => ({ kind: 'assert', cond: `${e} == ${e}` })),
    fc.record({ kind: fc.constant('if' as const), cond: condition, then: tie('body'), else: tie('body') }),
    fc.record({
      kind: fc.constant('for' as const),
      n: fc.oneof(
        fc.constantFrom('0', '1', '2'),
        intExpr.map((e) => `min(${e}, 2)`),
      ),
      body: tie('body'),
    }),
  ),
  body: fc.array(tie('s'), { maxLength: 3 }),
})).s;

/** Renders statements; every checkpoint key is unique (a counter, plus the enclosing loop variables). */
function render(stmts: readonly Stmt[], indent: string, loops: string[], counter: { n: number }): string[] {
  const lines: string[] = [];
  const key = (p: string): string => `self.${p}${counter.n++}${loops.map((j) => `[${j}]`).join('')}`;
  for (const s of stmts) {
    const L = (t: string): void => {
      lines.push(indent + t);
    };
    switch (s.kind) {
      case 'pw':
        L(`x = pwconv(${key('pw')}, x, out=C)`);
        break;
      case 'ln':
        L(`x = layernorm2d(${key('ln')}, x)`);
        break;
      case 'bn':
        L(`x = batchnorm2d(${key('bn')}, x)`);
        break;
      case 'scale':
        L(`x = scale(${key('sc')}, x)`);
        break;
      case 'prod':
        L(`x = x * pwconv(${key('pr')}, x, out=C)`);
        break;
      case 'gate':
        L(`x = x * sigmoid(param(${key('g')}, [1, C, 1, 1]))`);
        break;
      case 'halves':
        L('a, b = chunk(x, 2)');
        L(`x = pwconv(${key('hv')}, a * flip(b), out=C)`);
        break;
      case 'slices':
        L(`x = pwconv(${key('sl')}, x[:, :C // 2] * x[:, C // 2:], out=C)`);
        break;
      case 'attn':
        L('nb, nc, nh, nw = x.shape');
        L('t = reshape(x, [nb, nc, nh * nw])');
        L('g = l1norm(t @ transpose(t, [0, 2, 1]), axis=2)');
        L('x = reshape(g @ t, [nb, nc, nh, nw])');
        break;
      case 'dw':
        L(`x = dwconv(${key('dw')}, x, k=${s.k}, dilation=${s.dilation})`);
        break;
      case 'conv':
        L(`x = conv2d(${key('cv')}, x, out=C, k=${s.k}, groups=${s.groups})`);
        break;
      case 'pow':
        L(`x = l1norm(x ^ ${s.p}, axis=1) + x`);
        break;
      case 'assert':
        L(`assert ${s.cond}, "always true"`);
        break;
      case 'if':
        L(`if ${s.cond} {`);
        lines.push(...render(s.then, `${indent}  `, loops, counter));
        L('} else {');
        lines.push(...render(s.else, `${indent}  `, loops, counter));
        L('}');
        break;
      case 'for': {
        const j = `j${loops.length}`;
        L(`for ${j} in 0 .. ${s.n} {`);
        lines.push(...render(s.body, `${indent}  `, [...loops, j], counter));
        L('}');
        break;
      }
    }
  }
  return lines;
}

export interface ProgramShape {
  readonly k0: string;
  readonly body: Stmt[];
  readonly width: number;
  readonly depth: number;
  readonly size: number;
  readonly classes: number;
  readonly outputs: 1 | 2;
}

export const programShape: fc.Arbitrary<ProgramShape> = fc.record({
  k0: intExpr.map((e) => e.replaceAll('C', '3').replaceAll('K0', '5')),
  body: fc.array(stmt, { minLength: 1, maxLength: 5 }),
  width: fc.constantFrom(2, 4, 6, 8),
  depth: fc.integer({ min: 0, max: 2 }),
  size: fc.constantFrom(4, 6, 8),
  classes: fc.integer({ min: 1, max: 5 }),
  outputs: fc.constantFrom(1 as const, 2 as const),
});

export function renderProgram(p: ProgramShape): string {
  const body = render(p.body, '  ', [], { n: 0 });
  const ret = p.outputs === 1 ? 'logits' : 'logits, mean_hw(x)';
  return [
    '# generated by test/fuzz/arbitraries/poly.ts',
    `const K0 = ${p.k0}`,
    'config Sizes { stride = 2; kinds = ["a", "b"]; table = {2: 2} }',
    'block body(self: path, x: tensor, C: int) {',
    ...body,
    '  return x',
    '}',
    `model fuzz(image: f32[B, 3, size, size], size: int = ${p.size}, width: int = ${p.width},`,
    `           depth: int = ${p.depth}, classes: int = ${p.classes}) {`,
    '  x = conv2d(self.stem, image, out=width, k=3, stride=Sizes.stride)',
    '  for i in 0 .. depth {',
    '    x = body(self.blocks[i], x, width)',
    '  }',
    '  logits = linear(self.head, mean_hw(x), out=classes)',
    `  return ${ret}`,
    '}',
    '',
  ].join('\n');
}

/** Valid settings for a generated program (the defaults apart from an even width, a size, a depth). */
const validSettings = fc.record(
  {
    width: fc.constantFrom('2', '4', '8'),
    depth: fc.constantFrom('0', '1', '2'),
    size: fc.constantFrom('4', '8'),
  },
  { requiredKeys: [] },
);

/** Valid programs: each must build, verify and go through the default pipeline. */
export const validProgram: fc.Arbitrary<PolyCase> = fc
  .tuple(programShape, validSettings)
  .map(([p, settings]) => ({ text: renderProgram(p), settings }));

const VOCABULARY = [
  ...EXTREME_INTEGERS,
  ...'( ) [ ] { } , : . .. = == + - * / // % ^ @ < > not and or in if then else for return assert ignore block model config const import'.split(
    ' ',
  ),
  'self',
  'x',
  'C',
  'pwconv',
  'param',
  'range',
  '"s"',
  '0.5',
  '\n',
];

/** Settings that are wrong: not numbers, out of range, past 2^53, or of the wrong kind. */
const badSettings = fc.dictionary(
  fc.constantFrom('width', 'depth', 'size', 'classes', 'nope'),
  fc.constantFrom(...EXTREME_INTEGERS, 'abc', '', '2.5', 'true', '-0'),
  { maxKeys: 2 },
);

/** Valid programs after a few token edits, with possibly bad settings. */
export const mutatedProgram: fc.Arbitrary<PolyCase> = fc
  .tuple(programShape, tokenEdits(VOCABULARY), fc.oneof(validSettings, badSettings))
  .map(([p, edits, settings]) => ({
    text: applyTokenEdits(tokenize(renderProgram(p)), edits).join(''),
    settings,
  }));

/** One construct nested `depth` times; `inner` is where the nesting closes. */
const NESTINGS: Record<string, (d: number) => string> = {
  parens: (d) => `const A = ${'('.repeat(d)}1${')'.repeat(d)}`,
  lists: (d) => `const A = ${'['.repeat(d)}1${']'.repeat(d)}`,
  maps: (d) => `const A = ${'{1: '.repeat(d)}1${'}'.repeat(d)}`,
  calls: (d) => `const A = ${'max(1, '.repeat(d)}1${')'.repeat(d)}`,
  index: (d) => `const A = [1]${'[0]'.repeat(d)}`,
  power: (d) => `const A = ${'1 ^ '.repeat(d)}1`,
  plus: (d) => `const A = ${'1 + '.repeat(d)}1`,
  minus: (d) => `const A = ${'-'.repeat(d)}1`,
  not: (d) => `const A = ${'not '.repeat(d)}true`,
  ifexpr: (d) => `const A = ${'if true then 1 else '.repeat(d)}1`,
  path: (d) => `block f(self: path) { return self${'.a'.repeat(d)} }\nconst A = 1`,
  ifstmt: (d) =>
    `block f(x: int) {\n${'if true {\n'.repeat(d)}x = 1\n${'}\n'.repeat(d)}return x\n}\nconst A = f(1)`,
  forstmt: (d) =>
    `block f(x: int) {\n${'for i in 0 .. 1 {\n'.repeat(d)}x = 1\n${'}\n'.repeat(d)}return x\n}\nconst A = f(1)`,
  recursion: (d) => `block f(n: int) { return if n > 0 then f(n - 1) else 0 }\nconst A = f(${d})`,
};

/** A model that uses constant `A`, so that the nested definition is evaluated. */
function withModel(decls: string): string {
  return `${decls}\nmodel m(x: f32[B, 2], k: int = 1) {\n  assert A == A\n  return x * 2\n}\n`;
}

/** Deep nesting of every recursive construct, at depths from harmless to 10,000. */
export const deepProgram: fc.Arbitrary<PolyCase> = fc
  .tuple(
    fc.constantFrom(...Object.keys(NESTINGS)),
    fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 10_000 })),
  )
  .map(([kind, depth]) => ({ text: withModel(NESTINGS[kind]!(depth)), settings: {} }));

/**
 * Compile-time work amplifiers: loops, repeated lists, ranges and strings of a size given by a
 * setting, and (with `huge`) exponential recursion. With `huge` only limits on compile-time work
 * make these end quickly: run them in workers with a time-out (the campaign's pool), never in
 * the test process, which a runaway case would stall.
 */
export function workProgram(huge: boolean): fc.Arbitrary<PolyCase> {
  const n = fc.constantFrom(...EXTREME_INTEGERS, ...(huge ? HUGE_INTEGERS : []));
  const bodies = [
    'for i in 0 .. n { t = i }\n  r = 1',
    'r = len([0] * n)',
    'r = len(range(n))',
    's = "ab"\n  for i in 0 .. n { s = s + s }\n  r = 1',
    'l = [1]\n  for i in 0 .. n { l = l + l }\n  r = len(l)',
    // Exponential recursion: 2^n calls even when the nesting limit stops each descent.
    ...(huge ? ['r = f(n)'] : []),
  ];
  return fc.tuple(fc.constantFrom(...bodies), n, fc.boolean()).map(([body, value, asSetting]) => ({
    text: [
      'block f(n: int) {',
      '  if n > 0 {',
      '    a = f(n - 1)',
      '    b = f(n - 1)',
      '  }',
      '  return 0',
      '}',
      `model m(x: f32[B, 2], n: int = ${asSetting ? 1 : value}) {`,
      `  ${body}`,
      '  return x * 2',
      '}',
      '',
    ].join('\n'),
    settings: asSetting ? { n: value } : {},
  }));
}

/** The published library's models at extreme settings (`--set init_channels=...`). */
export const extremeSettings: fc.Arbitrary<PolyCase> = fc
  .tuple(
    fc.constantFrom('init_channels', 'layers', 'num_classes', 'image_size'),
    fc.constantFrom(...EXTREME_INTEGERS, '0', '5', '7', '100000'),
  )
  .map(([name, value]) => ({
    text: 'import "lib/polynext.poly"\nmodel m(image: f32[B, 3, image_size, image_size], init_channels: int = 4, layers: int = 2, num_classes: int = 10, image_size: int = 16) {\n  return polynext(self, image, PolyNeXt_LowRes, init_channels, layers, num_classes, attn=false, kind="ln")\n}\n',
    settings: { [name]: value },
  }));

/** Every family, for the campaign (`huge`: with sizes that need the work limits). */
export function anyProgram(huge: boolean): fc.Arbitrary<PolyCase> {
  return fc.oneof(
    { arbitrary: validProgram, weight: 6 },
    { arbitrary: mutatedProgram, weight: 10 },
    { arbitrary: deepProgram, weight: 2 },
    // The slow families (seconds per case where no limit stops them) less often.
    { arbitrary: workProgram(huge), weight: 1 },
    { arbitrary: extremeSettings, weight: 1 },
  );
}
