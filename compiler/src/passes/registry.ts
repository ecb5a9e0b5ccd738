import { assignLayouts } from './assign-layouts.js';
import { balanceProducts } from './balance-products.js';
import { canonicalize } from './canonicalize.js';
import { cse } from './cse.js';
import { dce } from './dce.js';
import { foldBatchnorm } from './fold-batchnorm.js';
import { foldLayernormWeight } from './fold-layernorm-weight.js';
import { foldScales } from './fold-scales.js';
import { fuseAttention } from './fuse-attention.js';
import { fuseKernels } from './fuse-kernels.js';
import { fusePolyconv } from './fuse-polyconv.js';
import { layernormIntoGemm } from './layernorm-into-gemm.js';
import type { Pass } from './pass.js';

/**
 * Every pass polyc has, in alphabetical order. This is the one place a new pass is registered;
 * `pipeline.ts` decides the default order.
 */
export const PASSES: readonly Pass[] = [
  assignLayouts,
  balanceProducts,
  canonicalize,
  cse,
  dce,
  foldBatchnorm,
  foldLayernormWeight,
  foldScales,
  fuseAttention,
  fuseKernels,
  fusePolyconv,
  layernormIntoGemm,
];

export function findPass(name: string): Pass | undefined {
  return PASSES.find((p) => p.name === name);
}
