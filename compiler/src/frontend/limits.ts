import { fail, type Note, note } from '../diagnostics/diagnostic.js';

/**
 * The bounds on what a `.poly` program may ask of the compiler, so that hostile or mistaken input
 * (`for i in 0 .. 4294967296`, a block that calls itself twice per level, a 10^10-channel conv)
 * ends in a diagnostic, fast, instead of exhausting time or memory. Each is checked before the
 * work or allocation it bounds. The defaults are far above what the PolyNeXt models need (the
 * largest, APolyNeXt-L, takes 3 x 10^4 evaluation steps and makes 4.3 x 10^3 ops) and low enough
 * to answer within seconds; `--limit name=value` raises one.
 */
export interface Limits {
  /**
   * Expressions evaluated and statements run, over the whole compile-time evaluation, plus one
   * per 16 list items made or compared (copying is work too).
   */
  readonly 'eval-steps': number;
  /** Iterations of one `for` loop. */
  readonly 'loop-iterations': number;
  /**
   * Items of one compile-time list or map (`range(n)`, `[x] * n`, `a + b`, literals), counting
   * what nested lists and maps hold and the characters of strings.
   */
  readonly 'list-length': number;
  /** Characters of one compile-time string. */
  readonly 'string-length': number;
  /** Ops of the model's IR. */
  readonly ops: number;
  /** Elements of one tensor (per image: the batch dimension does not count). */
  readonly 'tensor-elements': number;
  /** Bytes of all parameters and buffers together (float32). */
  readonly 'param-bytes': number;
}

export const DEFAULT_LIMITS: Limits = {
  'eval-steps': 2_000_000,
  'loop-iterations': 100_000,
  'list-length': 1_000_000,
  'string-length': 1_000_000,
  ops: 250_000,
  'tensor-elements': 2 ** 28,
  'param-bytes': 2 ** 31,
};

export type LimitName = keyof Limits;

/** The note under a limit's diagnostic: how to raise it. */
export function limitNote(name: LimitName): Note {
  return note(`the limit is '${name}'; raise it with --limit ${name}=N if the model really needs more`);
}

export const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as LimitName[];

/**
 * The limits with `--limit name=value` overrides applied. A value is a positive integer (`_`
 * separators allowed, e.g. 20_000_000); an unknown name or a bad value is E0701.
 */
export function parseLimits(given: readonly string[]): Limits {
  const out: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const g of given) {
    const eq = g.indexOf('=');
    const name = (eq < 0 ? g : g.slice(0, eq)).trim();
    if (!(name in DEFAULT_LIMITS)) {
      fail('E0701', `--limit: unknown limit '${name}'; the limits are: ${LIMIT_NAMES.join(', ')}`);
    }
    const text = eq < 0 ? '' : g.slice(eq + 1).trim();
    const value = /^[1-9][0-9_]*$/.test(text) ? Number(text.replaceAll('_', '')) : Number.NaN;
    if (!Number.isSafeInteger(value)) {
      fail('E0701', `--limit ${name} expects a positive integer below 2^53, got '${text}'`);
    }
    out[name] = value;
  }
  return out as unknown as Limits;
}
