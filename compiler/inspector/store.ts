import type { InspectorData, ModelData, OpData } from './data.js';
import { type ScopeLevel, scopeLevels } from './scope.js';

/** An op of one stage: selections span stages (a source line selects ops before and after passes). */
export interface OpRef {
  readonly stage: number;
  readonly id: number;
}

export const refKey = (r: OpRef): string => `${r.stage}:${r.id}`;

/**
 * Where the stages' ops are: in the data (`polyc inspect --serve`'s data.json), or in script
 * elements of their own that are parsed when a view first needs them (the HTML file: a large
 * model's page opens on the last stage without parsing the others).
 */
export interface StageSource {
  /** Whether stage `i` has ops of its own (else it repeats the stage before). */
  has(i: number): boolean;
  ops(i: number): readonly OpData[];
}

export function inlineStages(model: ModelData): StageSource {
  return { has: (i) => model.stages[i]?.ops != null, ops: (i) => model.stages[i]?.ops ?? [] };
}

/** Indices over the data, built lazily: the page of a large model opens on the last stage only. */
export class Store {
  readonly model: ModelData;
  readonly last: number;
  private readonly byIdCache = new Map<number, Map<number, OpData>>();
  private readonly levelsCache = new Map<string, ScopeLevel[]>();
  private kernelsOfOp: Map<number, number[]> | undefined;
  private lines: Map<string, OpRef[]> | undefined;

  constructor(
    readonly data: InspectorData,
    private readonly stages: StageSource,
  ) {
    if (!data.model) throw new Error('no model');
    this.model = data.model;
    this.last = this.model.stages.length - 1;
  }

  /** The stage holding the ops of stage `i` (a stage that changed nothing repeats the one before). */
  home(i: number): number {
    let j = i;
    while (j > 0 && !this.stages.has(j)) j--;
    return j;
  }

  ops(i: number): readonly OpData[] {
    return this.stages.ops(this.home(i));
  }

  /** Whether `opsAtLine` is ready (it reads every stage: the page builds it when idle). */
  get linesIndexed(): boolean {
    return this.lines !== undefined;
  }

  byId(stage: number): Map<number, OpData> {
    const i = this.home(stage);
    let m = this.byIdCache.get(i);
    if (!m) {
      m = new Map(this.ops(i).map((o) => [o.id, o]));
      this.byIdCache.set(i, m);
    }
    return m;
  }

  op(r: OpRef): OpData | undefined {
    return this.byId(r.stage).get(r.id);
  }

  levels(scope: string): ScopeLevel[] {
    let l = this.levelsCache.get(scope);
    if (!l) {
      l = scopeLevels(scope);
      this.levelsCache.set(scope, l);
    }
    return l;
  }

  /** Plan steps computing each op of the last stage (its own step and those reading it as a view). */
  stepsOf(id: number): readonly number[] {
    if (!this.kernelsOfOp) {
      this.kernelsOfOp = new Map();
      this.model.plan.steps.forEach((s, i) => {
        for (const m of s.members) this.kernelsOfOp!.set(m, [...(this.kernelsOfOp!.get(m) ?? []), i]);
      });
    }
    return this.kernelsOfOp.get(id) ?? [];
  }

  /**
   * Where op `r` ended up in the last stage, following each pass's diff: kept (renumbered), merged
   * into a fused region, folded into a new op; or the pass that removed it.
   */
  fate(r: OpRef): { readonly ref: OpRef; readonly via: readonly string[] } | { readonly removedBy: string } {
    let id = r.id;
    const via: string[] = [];
    for (let s = r.stage + 1; s <= this.last; s++) {
      const stage = this.model.stages[s]!;
      if (!stage.changed) continue;
      const step = this.moves(s).get(id);
      if (step === undefined) return { removedBy: stage.pass ?? '?' };
      if (step.how) via.push(`${step.how} by ${stage.pass}`);
      id = step.to;
    }
    return { ref: { stage: this.last, id }, via };
  }

  private readonly movesCache = new Map<number, Map<number, { to: number; how: string | null }>>();

  /** Stage `s`'s diff as a map from ids of the stage before to ids of `s`. */
  private moves(s: number): Map<number, { to: number; how: string | null }> {
    let m = this.movesCache.get(s);
    if (!m) {
      const stage = this.model.stages[s]!;
      m = new Map(stage.kept.map(([a, b]) => [a, { to: b, how: null }]));
      for (const c of stage.changes) {
        if (c.kind !== 'merged' && c.kind !== 'folded') continue;
        for (const a of c.before) m.set(a, { to: c.after[0]!, how: c.kind });
      }
      this.movesCache.set(s, m);
    }
    return m;
  }

  fileName(index: number): string {
    return this.data.sources[index]?.file ?? '?';
  }

  /** Every op of every stage whose source location is on `line` of file `file` (a fused op for its region's ops). */
  opsAtLine(file: number, line: number): readonly OpRef[] {
    if (!this.lines) {
      const lines = new Map<string, OpRef[]>();
      const add = (key: string, r: OpRef) => {
        const list = lines.get(key);
        if (!list) lines.set(key, [r]);
        else if (refKey(list[list.length - 1]!) !== refKey(r)) list.push(r);
      };
      this.model.stages.forEach((_, stage) => {
        if (!this.stages.has(stage)) return;
        for (const op of this.stages.ops(stage)) {
          if (op.loc) add(`${op.loc[0]}:${op.loc[1]}`, { stage, id: op.id });
          for (const inner of op.body ?? [])
            if (inner.loc) add(`${inner.loc[0]}:${inner.loc[1]}`, { stage, id: op.id });
        }
      });
      this.lines = lines;
    }
    return this.lines.get(`${file}:${line}`) ?? [];
  }
}
