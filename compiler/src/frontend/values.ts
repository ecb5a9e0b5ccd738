import { fail, type Span } from '../diagnostics/diagnostic.js';
import type { TensorType, ValueId } from '../ir/types.js';
import type { BlockDecl } from '../syntax/ast.js';

/**
 * Compile-time values of the `.poly` evaluator. Everything except `tensor` is known at compile time;
 * a `tensor` is an SSA value of the IR being built.
 */
export type Value =
  | { readonly k: 'int'; readonly v: number }
  | { readonly k: 'float'; readonly v: number }
  | { readonly k: 'bool'; readonly v: boolean }
  | { readonly k: 'str'; readonly v: string }
  | { readonly k: 'none' }
  | { readonly k: 'list'; readonly items: readonly Value[] }
  | { readonly k: 'map'; readonly entries: ReadonlyMap<string, readonly [Value, Value]> }
  | { readonly k: 'record'; readonly name: string; readonly fields: ReadonlyMap<string, Value> }
  /**
   * A checkpoint key prefix such as `cells.3.ops`; the root path's is empty. One string, not a
   * list of parts: appending a part is then not a copy of the path (V8 concatenates lazily).
   */
  | { readonly k: 'path'; readonly key: string }
  /** The symbolic batch dimension. */
  | { readonly k: 'dim'; readonly name: string }
  | {
      readonly k: 'tensor';
      readonly id: ValueId;
      readonly type: TensorType;
      /** True when computed only from parameters and constants (foldable, may go through sigmoid). */
      readonly constant: boolean;
      /** Where the value was produced, for notes in shape errors. */
      readonly origin: Span;
    }
  | { readonly k: 'block'; readonly decl: BlockDecl }
  /** The result of a computation that failed with a reported error. */
  | { readonly k: 'poison' };

export type Kind = Value['k'];

export const int = (v: number): Value => ({ k: 'int', v });

/**
 * An int that `.poly` arithmetic produced or a literal gave: refused beyond 2^53, where doubles no
 * longer hold every integer and a size or index would be silently rounded.
 */
export function safeInt(v: number, span: Span): Value {
  if (!Number.isSafeInteger(v)) {
    fail(
      'E0310',
      `an integer beyond 2^53 - 1 (${v.toExponential(3)}): sizes and indices must be exact`,
      span,
    );
  }
  return int(v);
}
export const float = (v: number): Value => ({ k: 'float', v });
export const bool = (v: boolean): Value => ({ k: 'bool', v });

const KIND_WORDS: Record<Kind, string> = {
  int: 'an int',
  float: 'a float',
  bool: 'a bool',
  str: 'a string',
  none: 'none',
  list: 'a list',
  map: 'a map',
  record: 'a config',
  path: 'a path',
  dim: 'the batch dimension',
  tensor: 'a tensor',
  block: 'a block',
  poison: 'an erroneous value',
};

export function describeKind(v: Value): string {
  return KIND_WORDS[v.k];
}

export function show(v: Value): string {
  switch (v.k) {
    case 'int':
    case 'float':
    case 'bool':
      return String(v.v);
    case 'str':
      return JSON.stringify(v.v);
    case 'none':
      return 'none';
    case 'list':
      return `[${v.items.map(show).join(', ')}]`;
    case 'map':
      return `{${[...v.entries.values()].map(([k, x]) => `${show(k)}: ${show(x)}`).join(', ')}}`;
    case 'record':
      return v.name;
    case 'path':
      return v.key || '<root>';
    case 'dim':
      return v.name;
    case 'tensor':
      return `tensor ${v.type.dtype}[${v.type.shape.join(',')}]`;
    case 'block':
      return `block ${v.decl.name.name}`;
    case 'poison':
      return '<error>';
  }
}

/** A stable key for map lookups (`{2: 2}` and `{2.0: 2}` are different keys, as in Python they'd collide). */
export function mapKey(v: Value): string {
  return `${v.k}:${show(v)}`;
}

export function equal(a: Value, b: Value): boolean {
  if ((a.k === 'int' || a.k === 'float') && (b.k === 'int' || b.k === 'float')) return a.v === b.v;
  return a.k === b.k && show(a) === show(b);
}
