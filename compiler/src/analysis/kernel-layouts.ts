import type { Layout, Op } from '../ir/types.js';

/**
 * Which memory layouts each kind of WebGPU kernel reads and writes: the one table the
 * `assign-layouts` pass chooses layouts from and the WGSL codegen honours. A kernel kind is a fused
 * op's `kind` or, for an op that is its own kernel, the op's name. NCHW (the logical order) is
 * always supported and not listed; a kind missing from the table supports NCHW only, so a new
 * template is safe until it is listed here. Listing a kind promises that its codegen is correct for
 * every listed layout of any operand (the generic expression path reads and writes every layout,
 * and a specialised template that cannot handle one returns null), and fast where the template
 * has a path for it: GEMMs read 4 input channels of a pixel as one vec4 (gemm.ts), whatever H*W.
 */
export interface LayoutSupport {
  /** Layouts an activation operand of the kernel may have. */
  readonly reads: readonly Layout[];
  /** Layouts the kernel may store its result in. */
  readonly writes: readonly Layout[];
}

const NC4HW4: LayoutSupport = { reads: ['nc4hw4'], writes: ['nc4hw4'] };

export const KERNEL_LAYOUTS: Readonly<Record<string, LayoutSupport>> = {
  // Pointwise convs with their epilogues (gemm.ts), other convs with theirs (`conv`: depthwise.ts,
  // conv.ts, reading through the expression writer), and convs that are their own kernel.
  gemm: NC4HW4,
  conv2d: NC4HW4,
  conv: NC4HW4,
  // PolyConv (depthwise.ts) and LayerNorm units (norm.ts) read through the expression writer and
  // store through the layout: they sit between GEMMs in every cell, so supporting them keeps a
  // stage's activations in one layout with no conversion between kernels.
  polyconv: NC4HW4,
  norm: NC4HW4,
  layernorm2d: NC4HW4,
};

/** The kernel kind of a data-path op (a fused op's kind, else the op's name). */
export function kernelKind(op: Op): string {
  return op.op === 'fused' ? op.attrs.kind : op.op;
}

/** Does the kernel computing `op` support `layout` for its result (`writes`) or an operand (`reads`)? */
export function supportsLayout(op: Op, layout: Layout, use: keyof LayoutSupport): boolean {
  return KERNEL_LAYOUTS[kernelKind(op)]?.[use].includes(layout) ?? false;
}
