import type { ModelData, OpData } from '../../inspector/data.js';
import { scopeLevels } from '../../inspector/scope.js';

/**
 * The last stage as a Graphviz digraph: one cluster per scope level (module instance, then DSL
 * block), one node per data-path op labelled with its kind and shape, edges labelled with the
 * shape they carry. Load-time values (checkpoint tensors, constants and what is computed from them
 * alone) are left out: they would double the nodes and carry no data; a node's tooltip lists the
 * checkpoint keys it reads.
 */
export function toDot(model: ModelData): string {
  const ops = lastOps(model);
  const hidden = new Set(ops.filter((o) => o.live === undefined).map((o) => o.id));
  const byId = new Map(ops.map((o) => [o.id, o]));
  interface Cluster {
    readonly label: string;
    readonly children: Map<string, Cluster>;
    readonly nodes: OpData[];
  }
  const root: Cluster = { label: model.name, children: new Map(), nodes: [] };
  for (const op of ops) {
    if (hidden.has(op.id)) continue;
    let at = root;
    for (const level of scopeLevels(op.scope)) {
      let next = at.children.get(level.id);
      if (!next) {
        next = { label: level.label, children: new Map(), nodes: [] };
        at.children.set(level.id, next);
      }
      at = next;
    }
    at.nodes.push(op);
  }
  const lines = [`digraph ${quote(model.name)} {`, '  rankdir=TB;', '  node [shape=box, fontsize=10];'];
  let clusters = 0;
  const emit = (c: Cluster, indent: string): void => {
    for (const op of c.nodes) {
      const kind = op.op === 'fused' ? `fused ${String(op.attrs.kind)}` : op.op;
      const tooltip = op.keys ? `, tooltip=${quote(op.keys.join('\n'))}` : '';
      lines.push(
        `${indent}n${op.id} [label=${quote(`%${op.id} ${kind}\n[${op.shape.join(',')}]`)}${tooltip}];`,
      );
    }
    for (const child of c.children.values()) {
      lines.push(`${indent}subgraph cluster_${clusters++} {`, `${indent}  label=${quote(child.label)};`);
      emit(child, `${indent}  `);
      lines.push(`${indent}}`);
    }
  };
  emit(root, '  ');
  for (const op of ops) {
    if (hidden.has(op.id)) continue;
    for (const x of op.operands) {
      if (hidden.has(x)) continue;
      lines.push(`  n${x} -> n${op.id} [label=${quote(`[${byId.get(x)!.shape.join(',')}]`)}];`);
    }
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** The ops of the last stage (a stage with `ops: null` is the same as the one before it). */
export function lastOps(model: ModelData): readonly OpData[] {
  for (let i = model.stages.length - 1; i >= 0; i--) {
    const ops = model.stages[i]!.ops;
    if (ops) return ops;
  }
  return [];
}

const quote = (s: string): string =>
  `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
