import type { AnalysisContext } from '../analysis/context.js';
import { balancedDepth, degreeAnalysis } from '../analysis/degree.js';
import { useCount, usesAnalysis } from '../analysis/uses.js';
import type { Module, Op, ValueId } from '../ir/types.js';
import type { Pass } from './pass.js';
import { rewrite } from './rewriter.js';

/**
 * Rewrites each maximal tree of data x data `mul` ops into a balanced one, so that its
 * multiplicative depth (the levels a homomorphic evaluation spends) is ceil(log2 #leaves) over the
 * leaves rather than the length of the chain the source happened to write. A tree's inner nodes are
 * products used once, by another product of the tree; anything else (a value used twice, a product
 * with a constant) is a leaf, so no product is computed twice and constant factors stay where the
 * folding passes expect them. Leaves are combined by Huffman's rule, the two shallowest first,
 * which is optimal when leaves already have different depths. Only trees whose depth drops are
 * rebuilt; the new ops take the root's location and scope.
 *
 * `pow` is left alone: codegen already evaluates x^e by repeated squaring (ceil(log2 e) levels),
 * which is what the degree analysis's balanced depth assumes. Fused regions are left alone too:
 * the pass is meant to run before fusion.
 *
 * Products commute and associate exactly over the reals, and broadcasting composes in any order,
 * so results change only by float rounding.
 */
export const balanceProducts: Pass = {
  name: 'balance-products',
  summary: 'rebuild chains of data x data products as balanced trees of minimal multiplicative depth',
  run(m: Module, ctx: AnalysisContext): Module {
    const facts = ctx.get(degreeAnalysis, m).values;
    const uses = ctx.get(usesAnalysis, m);
    const isData = (id: ValueId): boolean => facts.get(id)!.segment >= 0;
    const isProduct = (op: Op): boolean => op.op === 'mul' && op.operands.every(isData);
    const isInner = (id: ValueId): boolean => {
      const user = useCount(uses, id) === 1 ? uses.users.get(id)?.[0] : undefined;
      return user !== undefined && isProduct(user) && isProduct(uses.def.get(id)!);
    };

    const leaves = (op: Op): ValueId[] =>
      op.operands.flatMap((x) => (isInner(x) ? leaves(uses.def.get(x)!) : [x]));
    // Depths use the leaves' balanced depth: leaves that are trees themselves get rebuilt too.
    const leafDepth = (x: ValueId): number => facts.get(x)!.depthBalanced;
    const writtenDepth = (op: Op): number =>
      1 + Math.max(...op.operands.map((x) => (isInner(x) ? writtenDepth(uses.def.get(x)!) : leafDepth(x))));

    /** Roots to rebuild, with their leaves, and the inner nodes that disappear with them. */
    const roots = new Map<ValueId, ValueId[]>();
    const absorbed = new Set<ValueId>();
    for (const op of m.ops) {
      if (!isProduct(op) || isInner(op.id)) continue;
      const ls = leaves(op);
      if (balancedDepth(ls.map(leafDepth)) >= writtenDepth(op)) continue;
      roots.set(op.id, ls);
      const markInner = (o: Op): void => {
        for (const x of o.operands) {
          if (!isInner(x)) continue;
          absorbed.add(x);
          markInner(uses.def.get(x)!);
        }
      };
      markInner(op);
    }
    if (roots.size === 0) return m;

    return rewrite(m, (op, rw) => {
      if (absorbed.has(op.id)) return true; // only its root used it, and the root is rebuilt below
      const ls = roots.get(op.id);
      if (!ls) return false;
      const origin = { loc: op.loc, scope: op.scope };
      // Ties go to the earlier item, so the output is deterministic and close to source order.
      let order = 0;
      const pending = ls.map((x) => ({ id: rw.get(x), depth: leafDepth(x), order: order++ }));
      while (pending.length > 1) {
        pending.sort((a, b) => a.depth - b.depth || a.order - b.order);
        const [a, b] = pending.splice(0, 2) as [(typeof pending)[number], (typeof pending)[number]];
        const id = rw.emit('mul', [a.id, b.id], {}, origin);
        pending.push({ id, depth: Math.max(a.depth, b.depth) + 1, order: order++ });
      }
      rw.bind(op.id, pending[0]!.id);
      return true;
    });
  },
};
