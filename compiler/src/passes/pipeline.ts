import { fail } from '../diagnostics/diagnostic.js';
import { didYouMean } from '../diagnostics/suggest.js';
import type { Pass } from './pass.js';
import { findPass, PASSES } from './registry.js';

/**
 * The default optimisation pipeline: the only place that orders passes.
 */
export const DEFAULT_PIPELINE: readonly string[] = [
  'canonicalize', // constants to the right, identities away: the folds below match one form
  'cse', // one op per distinct computation (e.g. the scale r[i] read twice)
  'fold-batchnorm', // ChannelBatchNorm -> load-time affine map x*A + B
  'fold-scales', // sigmoid residual scales and pre-scales into conv weights / norm gains
  'fold-layernorm-weight', // LayerNorm gains into the convs that read them
  'layernorm-into-gemm', // weightless LayerNorm feeding pointwise convs -> stats + rank-1 correction
  'balance-products', // data x data product trees balanced: lower multiplicative depth
  'canonicalize',
  'cse', // the LayerNorm statistics shared by sibling GEMMs
  'dce', // ops the folds left unused
  'fuse-attention', // ((q.k)s+1)^4, its normalisation and v into one kernel
  'fuse-polyconv', // dw(dw1(b) * flip(dw2(b))) into one kernel
  'fuse-kernels', // prologues and epilogues (PolyMLP product, LN stats, residuals) into anchors
  'dce',
  'assign-layouts', // NC4HW4 where H*W % 4 != 0 and every kernel touching a value reads it as vec4s
];

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
