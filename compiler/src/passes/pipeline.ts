import { fail } from '../diagnostics/diagnostic.js';
import { didYouMean } from '../diagnostics/suggest.js';
import type { Pass } from './pass.js';
import { findPass, PASSES } from './registry.js';

/**
 * The default optimisation pipeline: the only place that orders passes.
 */
export const DEFAULT_PIPELINE: readonly string[] = [];

/**
 * Parses a textual pipeline: pass names separated by commas; `default` stands for the default
 * pipeline and `none` (or the empty string) for no passes.
 */
export function parsePipeline(text: string): Pass[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'none')
    .flatMap((s) => (s === 'default' ? [...DEFAULT_PIPELINE] : [s]));
  return names.map((n) => {
    const pass = findPass(n);
    if (!pass) {
      fail(
        'E0705',
        `unknown pass '${n}'${didYouMean(
          n,
          PASSES.map((p) => p.name),
        )}`,
        undefined,
      );
    }
    return pass;
  });
}
