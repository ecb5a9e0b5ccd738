import type { Span } from '../diagnostics/diagnostic.js';
import type { Dim, Module, Op, TensorType } from './types.js';

/**
 * The IR's text form, one op per line:
 *
 *   module cpolynext_lr batch B {
 *     %0 = input {name="image"} : f32[B,3,32,32] loc("m.poly":10:3+5) scope ":model"
 *     %2 = conv2d(%0, %1) {stride=[1,1], pad=[1,1], dilation=[1,1], groups=1} : f32[B,16,32,32]
 *     %3 = fused(%2) {kind="gemm"} : f32[B,16,32,32]@nc4hw4 { ... yield %5 }
 *     ignore "head.2.p"
 *     return %57
 *   }
 *
 * Ops without operands print no parentheses, ops without attrs no braces; a null `loc` and an empty
 * `scope` print nothing. `readModule` (read.ts) parses exactly this back, so the printer must stay
 * lossless: attrs print in object key order, numbers so that `Number(text)` gives them back.
 */
export function printModule(m: Module, options: PrintOptions = {}): string {
  const lines = [`module ${printName(m.name)} batch ${printName(m.batch)} {`];
  for (const op of m.ops) lines.push(...printOpLines(op, '  ', options));
  for (const key of m.ignoredKeys) lines.push(`  ignore ${JSON.stringify(key)}`);
  lines.push(m.outputs.length === 0 ? '  return' : `  return ${m.outputs.map(printId).join(', ')}`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

export interface PrintOptions {
  /**
   * Print each op's `loc(...)` and `scope "..."` (default true). Without them the text still reads
   * back, with null locations and empty scopes: what `polyc opt --strip-locations` prints.
   */
  readonly locations?: boolean;
}

/** An op and, for a fused op, its region: `{`, the body one level deeper, `yield %r`, `}`. */
function printOpLines(op: Op, indent: string, options: PrintOptions): string[] {
  if (op.op !== 'fused') return [`${indent}${printOp(op, options)}`];
  const body = op.attrs.body;
  return [
    `${indent}${printOp(op, options)} {`,
    ...body.ops.flatMap((o) => printOpLines(o, `${indent}  `, options)),
    `${indent}  yield ${printId(body.result)}`,
    `${indent}}`,
  ];
}

/** One op on one line; a fused op's region is printed by `printModule` after it. */
export function printOp(op: Op, options: PrintOptions = {}): string {
  let s = `${printId(op.id)} = ${op.op}`;
  if (op.operands.length > 0) s += `(${op.operands.map(printId).join(', ')})`;
  const attrs = Object.entries(op.attrs as Record<string, unknown>).filter(
    ([k]) => !(op.op === 'fused' && k === 'body'),
  );
  if (attrs.length > 0) s += ` {${attrs.map(([k, v]) => `${printName(k)}=${printValue(v)}`).join(', ')}}`;
  s += ` : ${printType(op.type)}`;
  if (options.locations === false) return s;
  if (op.loc !== null) s += ` ${printLoc(op.loc)}`;
  if (op.scope !== '') s += ` scope ${JSON.stringify(op.scope)}`;
  return s;
}

/** `f32[B,16,7,7]`, followed by `@<layout>` when the value is not stored in NCHW order. */
export function printType(t: TensorType): string {
  const layout = t.layout === undefined ? '' : `@${t.layout}`;
  return `${t.dtype}[${t.shape.map(printDim).join(',')}]${layout}`;
}

export function printLoc(span: Span): string {
  return `loc(${JSON.stringify(span.file)}:${span.line}:${span.col}+${span.length})`;
}

const printId = (id: number): string => `%${id}`;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Names print bare when they lex as identifiers, quoted otherwise (the reader accepts both). */
function printName(name: string): string {
  return IDENT.test(name) ? name : JSON.stringify(name);
}

function printDim(d: Dim): string {
  return typeof d === 'number' ? printNumber(d) : printName(d);
}

/** `String(n)` round-trips every finite double except -0, which it prints as "0". */
function printNumber(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n);
}

function printValue(v: unknown): string {
  if (typeof v === 'number') return printNumber(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(printValue).join(',')}]`;
  // Not a valid attr value; still print something so that dumps of broken IR stay readable.
  return `<${JSON.stringify(v) ?? String(v)}>`;
}
