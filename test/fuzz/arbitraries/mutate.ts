import fc from 'fast-check';

/**
 * Mutations shared by the text and byte generators: what a careless edit, a cut-off download or a
 * hostile author does to an input that was valid. Each mutation is plain data (positions and
 * replacements), so fast-check shrinks it like any other value: to fewer edits and smaller ones.
 */

/**
 * Integers at the edges: zero, negatives, the int32/uint32 and float64-exact boundaries, and
 * numbers no compile-time value can hold. Each of these fails fast wherever it is refused or
 * accepted (see `hugeIntegers` for the ones that make unbounded compilers work for a long time).
 */
export const EXTREME_INTEGERS = [
  '0',
  '-1',
  '1',
  '2',
  '3',
  '-2147483648',
  '4294967296',
  '9007199254740992',
  '9007199254740993',
  '99999999999999999999',
  '1e308',
  '1e400',
] as const;

/**
 * Sizes that are plausible integers but ask for a billion iterations, elements or bytes: only the
 * compiler's limits stop them quickly. The campaign (worker threads with a timeout and a memory
 * cap) uses them; in-process tests cannot stop a runaway case, so the CI properties use them only
 * where a limit is required to hold (they then fail by time-out rather than hanging the suite).
 */
export const HUGE_INTEGERS = ['1000000', '1000000000', '2147483647', '2147483648'] as const;

/** Splits source text into tokens and the whitespace between them (joining gives the text back). */
export function tokenize(text: string): string[] {
  return (
    text.match(
      /\s+|#[^\n]*|"(?:[^"\\\n]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?(?:e-?\d+)?|\.\.|\/\/|[=!<>]=|./g,
    ) ?? []
  );
}

export type TokenEdit =
  | { readonly kind: 'delete'; readonly at: number }
  | { readonly kind: 'duplicate'; readonly at: number }
  | { readonly kind: 'swap'; readonly at: number; readonly with: number }
  | { readonly kind: 'replace'; readonly at: number; readonly token: string }
  | { readonly kind: 'insert'; readonly at: number; readonly token: string };

/** Applies edits to a token list; positions are taken modulo its length so that any edit applies. */
export function applyTokenEdits(tokens: readonly string[], edits: readonly TokenEdit[]): string[] {
  const out = [...tokens];
  for (const e of edits) {
    if (out.length === 0) break;
    const i = e.at % out.length;
    if (e.kind === 'delete') out.splice(i, 1);
    else if (e.kind === 'duplicate') out.splice(i, 0, out[i]!);
    else if (e.kind === 'replace') out[i] = e.token;
    else if (e.kind === 'insert') out.splice(i, 0, e.token);
    else {
      const j = e.with % out.length;
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
  }
  return out;
}

/** Edits with tokens drawn from `vocabulary` (keywords, operators, extreme numbers). */
export function tokenEdits(vocabulary: readonly string[], maxEdits = 4): fc.Arbitrary<TokenEdit[]> {
  const at = fc.nat({ max: 100_000 });
  const token = fc.constantFrom(...vocabulary);
  return fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('delete' as const), at }),
      fc.record({ kind: fc.constant('duplicate' as const), at }),
      fc.record({ kind: fc.constant('swap' as const), at, with: at }),
      fc.record({ kind: fc.constant('replace' as const), at, token }),
      fc.record({ kind: fc.constant('insert' as const), at, token }),
    ),
    { minLength: 1, maxLength: maxEdits },
  );
}

export type ByteEdit =
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'set'; readonly at: number; readonly value: number }
  | { readonly kind: 'u32'; readonly at: number; readonly value: number };

/** Edits of a binary file: cut it off, flip a bit, overwrite a byte or a little-endian u32 (a length). */
export function byteEdits(maxEdits = 3): fc.Arbitrary<ByteEdit[]> {
  const at = fc.nat({ max: 1 << 24 });
  return fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('truncate' as const), at }),
      fc.record({ kind: fc.constant('flip' as const), at, bit: fc.nat({ max: 7 }) }),
      fc.record({ kind: fc.constant('set' as const), at, value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff) }),
      fc.record({
        kind: fc.constant('u32' as const),
        at,
        value: fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 20),
      }),
    ),
    { minLength: 1, maxLength: maxEdits },
  );
}

export function applyByteEdits(bytes: Uint8Array, edits: readonly ByteEdit[]): Uint8Array {
  let out = bytes.slice();
  for (const e of edits) {
    if (out.length === 0) break;
    const i = e.at % out.length;
    if (e.kind === 'truncate') out = out.slice(0, i);
    else if (e.kind === 'flip') out[i]! ^= 1 << e.bit;
    else if (e.kind === 'set') out[i] = e.value;
    else if (i + 4 <= out.length) new DataView(out.buffer).setUint32(i, e.value, true);
  }
  return out;
}
