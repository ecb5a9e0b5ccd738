import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { prepareModel } from '../../../compiler/src/driver/prepare.js';
import { printModule } from '../../../compiler/src/ir/print.js';
import { applyTokenEdits, EXTREME_INTEGERS, tokenEdits, tokenize } from './mutate.js';

/**
 * Generators of IR texts (docs/ir.md, compiler/src/ir/read.ts): real models printed by
 * ir/print.ts before and after the default pipeline (so with fused regions), with and without
 * locations; then token and line edits, and deep nesting of attributes and regions.
 */

export interface IrCase {
  readonly text: string;
}

const SMALL = { init_channels: '4', layers: '2', num_classes: '3', image_size: '32' };
const EXAMPLES: readonly (readonly [string, Record<string, string>])[] = [
  ['examples/cpolynext_lr.poly', { ...SMALL, image_size: '8' }],
  ['examples/apolynext_t.poly', SMALL],
  ['examples/cpolynext_t_bn.poly', SMALL],
];

let sources: string[] | undefined;

/** The printed examples (built on first use: a few hundred milliseconds). */
export function irSources(): readonly string[] {
  if (sources !== undefined) return sources;
  const root = new URL('../../../', import.meta.url);
  const host = {
    readFile: (p: string): string | null => {
      try {
        return readFileSync(new URL(p, root), 'utf8');
      } catch {
        return null;
      }
    },
  };
  sources = [];
  for (const [entry, settings] of EXAMPLES) {
    for (const passes of ['none', 'default']) {
      const p = prepareModel({ entry, settings, passes }, host);
      if (!p.model) throw new Error(`${entry} does not build: ${JSON.stringify(p.diagnostics)}`);
      sources.push(printModule(p.model.module, { locations: passes === 'none' }));
    }
  }
  return sources;
}

const VOCABULARY = [
  ...EXTREME_INTEGERS,
  ...'%0 %1 %7 %99999 = ( ) { } [ ] , : . " f32 B yield return fused ignore arg input param const add mul conv2d reshape slice layernorm2d matmul loc scope'.split(
    ' ',
  ),
  'f32[B,3,8,8]',
  'f32[]',
  'f32[0]',
  'f32[-1]',
  'f32[4294967296,4294967296]',
  '{value=nan}',
  '{shape=[]}',
  '\n',
  '"\\u0000"',
];

type LineEdit =
  | { readonly kind: 'drop' | 'dup'; readonly at: number }
  | { readonly kind: 'swap'; readonly at: number; readonly with: number };

const lineEdits = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constantFrom('drop' as const, 'dup' as const), at: fc.nat({ max: 10_000 }) }),
    fc.record({
      kind: fc.constant('swap' as const),
      at: fc.nat({ max: 10_000 }),
      with: fc.nat({ max: 10_000 }),
    }),
  ),
  { minLength: 1, maxLength: 3 },
);

function applyLineEdits(text: string, edits: readonly LineEdit[]): string {
  const lines = text.split('\n');
  for (const e of edits) {
    const i = e.at % lines.length;
    if (e.kind === 'drop') lines.splice(i, 1);
    else if (e.kind === 'dup') lines.splice(i, 0, lines[i]!);
    else if (e.kind === 'swap') {
      const j = e.with % lines.length;
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    }
  }
  return lines.join('\n');
}

const source = fc.nat({ max: EXAMPLES.length * 2 - 1 }).map((i) => irSources()[i]!);

/** The printed examples, unchanged: they must read, verify, optimise and print back. */
export const validIr: fc.Arbitrary<IrCase> = source.map((text) => ({ text }));

export const mutatedIr: fc.Arbitrary<IrCase> = fc.oneof(
  fc
    .tuple(source, tokenEdits(VOCABULARY))
    .map(([text, edits]) => ({ text: applyTokenEdits(tokenize(text), edits).join('') })),
  fc.tuple(source, lineEdits).map(([text, edits]) => ({ text: applyLineEdits(text, edits) })),
);

/** Attributes and regions nested `depth` deep (the reader must refuse, not overflow its stack). */
export const deepIr: fc.Arbitrary<IrCase> = fc
  .tuple(
    fc.constantFrom('attr', 'region', 'type'),
    fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 20_000 })),
  )
  .map(([kind, d]) => {
    const head = 'module m batch B {\n  %0 = input {name="x"} : f32[B,2]\n';
    if (kind === 'attr')
      return {
        text: `${head}  %1 = reshape(%0) {shape=${'['.repeat(d)}2${']'.repeat(d)}} : f32[B,2]\n  return %1\n}\n`,
      };
    if (kind === 'type')
      return { text: `${head}  %1 = neg(%0) : f32[B,${'['.repeat(d)}2${']'.repeat(d)}]\n  return %1\n}\n` };
    const open = '  %1 = fused(%0) {kind="norm"} : f32[B,2] {\n    %0 = arg {index=0} : f32[B,2]\n';
    return { text: `${head}${open.repeat(d)}${'    yield %0\n  }\n'.repeat(d)}  return %1\n}\n` };
  });

export const anyIr: fc.Arbitrary<IrCase> = fc.oneof(
  { arbitrary: validIr, weight: 1 },
  { arbitrary: mutatedIr, weight: 8 },
  { arbitrary: deepIr, weight: 1 },
);
