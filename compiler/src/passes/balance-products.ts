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

    // Depths use the leaves' balanced depth: leaves that are trees themselves get rebuilt too.
    const leafDepth = (x: ValueId): number => facts.get(x)!.depthBalanced;
    // The depth of each product's tree as written, in one forward sweep (operands come first).
    const written = new Map<ValueId, number>();
    for (const op of m.ops) {
      if (!isProduct(op)) continue;
      let d = 0;
      for (const x of op.operands) d = Math.max(d, isInner(x) ? written.get(x)! : leafDepth(x));
      written.set(op.id, d + 1);
    }

    /** Roots to rebuild, with their leaves, and the inner nodes that disappear with them. */
    const roots = new Map<ValueId, ValueId[]>();
    const absorbed = new Set<ValueId>();
    for (const op of m.ops) {
      if (!isProduct(op) || isInner(op.id)) continue;
      // The leaves left to right and the inner nodes, walked with a stack: a chain of 10^4
      // products is one tree 10^4 deep.
      const ls: ValueId[] = [];
      const inner: ValueId[] = [];
      const todo = [...op.operands].reverse();
      while (todo.length > 0) {
        const x = todo.pop()!;
        if (!isInner(x)) {
          ls.push(x);
          continue;
        }
        inner.push(x);
        todo.push(...[...uses.def.get(x)!.operands].reverse());
      }
      if (balancedDepth(ls.map(leafDepth)) >= written.get(op.id)!) continue;
      roots.set(op.id, ls);
      for (const x of inner) absorbed.add(x);
    }
    if (roots.size === 0) return m;

    return rewrite(m, (op, rw) => {
      if (absorbed.has(op.id)) return true; // only its root used it, and the root is rebuilt below
      const ls = roots.get(op.id);
      if (!ls) return false;
      const origin = { loc: op.loc, scope: op.scope };
      // Huffman's rule with two queues: the leaves sorted by depth, and the products made, whose
      // depths never decrease. Each step takes the shallowest front (ties to the earlier item, so
      // the output is deterministic and close to source order): O(n log n) for the sort, not a
      // sort per step.
      type Item = { id: ValueId; depth: number; order: number };
      const before = (a: Item, b: Item): boolean =>
        a.depth < b.depth || (a.depth === b.depth && a.order < b.order);
      const leavesQ: Item[] = ls
        .map((x, order) => ({ id: rw.get(x), depth: leafDepth(x), order }))
        .sort((a, b) => a.depth - b.depth || a.order - b.order);
      const made: Item[] = [];
      let li = 0;
      let mi = 0;
      let order = ls.length;
      const take = (): Item => {
        const l = leavesQ[li];
        const p = made[mi];
        if (l !== undefined && (p === undefined || before(l, p))) {
          li++;
          return l;
        }
        mi++;
        return p!;
      };
      const pending = (): number => leavesQ.length - li + made.length - mi;
      while (pending() > 1) {
        const a = take();
        const b = take();
        const id = rw.emit('mul', [a.id, b.id], {}, origin);
        made.push({ id, depth: Math.max(a.depth, b.depth) + 1, order: order++ });
      }
      const last = take();
      rw.bind(op.id, last.id);
      return true;
    });
  },
};
