import {
  type DegreeData,
  type DegreeFacts,
  INSPECTOR_VERSION,
  type InspectorData,
  type Loc,
  type ModelData,
  type OpData,
  type PlanData,
  type StageData,
} from '../../inspector/data.js';
import { constnessAnalysis } from '../analysis/constness.js';
import { AnalysisContext } from '../analysis/context.js';
import { costAnalysis, opFlops } from '../analysis/cost.js';
import { degreeAnalysis, degreeReport, factsJson, type ValueFacts } from '../analysis/degree.js';
import { livenessAnalysis } from '../analysis/liveness.js';
import { buildPlan, type CompiledPlan } from '../codegen/wgsl/plan.js';
import { type Diagnostic, DiagnosticError, type Span } from '../diagnostics/diagnostic.js';
import { renderDiagnostic } from '../diagnostics/render.js';
import { buildModel, type SourceHost } from '../driver/frontend.js';
import type { PrepareRequest } from '../driver/prepare.js';
import type { Elaborated } from '../frontend/elaborate.js';
import { numel } from '../ir/shapes.js';
import type { Module, Op, ValueId } from '../ir/types.js';
import { type RunOptions, runPasses } from '../passes/manager.js';
import type { Pass } from '../passes/pass.js';
import { parsePipeline } from '../passes/pipeline.js';
import { diffStages } from './diff.js';

/**
 * The inspector's data: a model built and run through a pipeline, with every stage's module, the
 * analyses' facts per op, what each pass changed, and the WebGPU plan of the result. A consumer of
 * the compiler: every number comes from an analysis, the pass manager or the planner.
 */
export type InspectRequest = Pick<
  PrepareRequest,
  'entry' | 'settings' | 'modelName' | 'limits' | 'passes' | 'verifyEach' | 'printIrAfter' | 'dump'
>;

export function inspectModel(request: InspectRequest, host: SourceHost): InspectorData {
  const context = new AnalysisContext();
  // As prepareModel does, but keeping the module as built and the one after every pass.
  let passes: Pass[] = [];
  let problems: readonly Diagnostic[] = [];
  let sources: ReadonlyMap<string, string> = new Map();
  let built: Elaborated | null = null;
  try {
    passes = parsePipeline(request.passes);
  } catch (e) {
    if (!(e instanceof DiagnosticError)) throw e;
    problems = e.diagnostics;
  }
  if (problems.length === 0) {
    const result = buildModel(request.entry, host, request.settings, request.modelName, request.limits);
    ({ diagnostics: problems, sources, model: built } = result);
  }
  const files = [...sources.keys()];
  const fileIndex = new Map(files.map((f, i) => [f, i]));
  const loc = (span: Span | null | undefined): Loc | null =>
    span ? [fileIndex.get(span.file) ?? -1, span.line, span.col, span.length] : null;
  const base = {
    version: INSPECTOR_VERSION,
    entry: request.entry,
    pipeline: request.passes,
    sources: files.map((file) => ({ file, text: sources.get(file)! })),
  } as const;
  const failed = (ds: readonly Diagnostic[]): InspectorData => ({
    ...base,
    diagnostics: ds.map((d) => ({
      code: d.code,
      severity: d.severity,
      message: d.message,
      loc: loc(d.span),
      rendered: renderDiagnostic(d, sources),
    })),
    model: null,
  });
  if (!built) return failed(problems);
  try {
    return { ...base, diagnostics: [], model: modelData(built, passes, request, context, loc) };
  } catch (e) {
    // A checkpoint-free pipeline and planner raise none today; a limit they enforce would land here.
    if (e instanceof DiagnosticError) return failed(e.diagnostics);
    throw e;
  }
}

function modelData(
  built: Elaborated,
  passes: readonly Pass[],
  options: RunOptions,
  context: AnalysisContext,
  loc: (s: Span | null | undefined) => Loc | null,
): ModelData {
  const all: { module: Module; pass: string | null; ms: number }[] = [
    { module: built.module, pass: null, ms: 0 },
  ];
  const { module: last, records } = runPasses(built.module, passes, {
    ...(options.verifyEach === undefined ? {} : { verifyEach: options.verifyEach }),
    ...(options.printIrAfter === undefined ? {} : { printIrAfter: options.printIrAfter }),
    ...(options.dump === undefined ? {} : { dump: options.dump }),
    context,
    afterPass: (record, module) => all.push({ module, pass: record.pass, ms: record.ms }),
  });

  const stageData: StageData[] = all.map((s, i) => {
    const prev = all[i - 1];
    const changed = prev !== undefined && s.module !== prev.module;
    return {
      pass: s.pass,
      ms: s.ms,
      changed,
      opCount: s.module.ops.length,
      ops: i === 0 || changed ? opsData(s.module, context, loc) : null,
      ...(changed ? diffStages(prev.module, s.module, s.pass ?? '') : { changes: [], kept: [] }),
    };
  });

  const cost = context.get(costAnalysis, last);
  const compiled = buildPlan(last, 1, context);
  const byId = new Map(last.ops.map((o) => [o.id, o]));
  return {
    name: last.name,
    settings: built.settings,
    batch: last.batch,
    inputs: last.ops.flatMap((o) =>
      o.op === 'input' ? [{ id: o.id, name: o.attrs.name, shape: o.type.shape }] : [],
    ),
    outputs: last.outputs.map((id) => ({ id, shape: byId.get(id)!.type.shape })),
    summary: {
      params: cost.params,
      buffers: cost.buffers,
      flops: cost.flops,
      opsBefore: all[0]!.module.ops.length,
      opsAfter: last.ops.length,
      dispatches: compiled.plan.steps.filter((s) => s.invocationsPerBatch > 0).length,
      kernels: compiled.plan.kernels.length,
      activationBytes: compiled.plan.memory.plannedBytes,
      activationLowerBoundBytes: compiled.plan.memory.lowerBoundBytes,
      weightBytes: compiled.plan.memory.weightBytes,
      passMs: records.reduce((s, r) => s + r.ms, 0),
    },
    degree: degreeData(built.module, context, loc),
    stages: stageData,
    plan: planData(last, compiled, context),
  };
}

/** The WebGPU plan at batch 1 with each step's ops and the memory plan. */
function planData(m: Module, compiled: CompiledPlan, context: AnalysisContext): PlanData {
  const constant = context.get(constnessAnalysis, m);
  const byId = new Map(m.ops.map((o) => [o.id, o]));
  const computed = new Set(compiled.stepValues);
  const keyIndex = new Map(compiled.plan.kernels.map((k, i) => [k.key, i]));
  /** The step's op and the views it reads through (codegen folds them into its kernel). */
  const members = (id: ValueId): ValueId[] => {
    const out = new Set([id]);
    const visit = (x: ValueId) => {
      const d = byId.get(x)!;
      if (computed.has(x) || constant.has(x) || d.op === 'input' || out.has(x)) return;
      out.add(x);
      d.operands.forEach(visit);
    };
    byId.get(id)!.operands.forEach(visit);
    return [...out];
  };
  return {
    kernels: compiled.plan.kernels.map((k) => ({
      name: k.name,
      key: k.key,
      wgsl: k.wgsl,
      workgroupSize: k.workgroupSize,
    })),
    steps: compiled.plan.steps.map((s, i) => {
      const kernel = keyIndex.get(s.kernel)!;
      return {
        kernel,
        label: s.label,
        op: compiled.stepValues[i]!,
        members: members(compiled.stepValues[i]!),
        invocations: s.invocationsPerBatch,
        workgroups: Math.ceil(s.invocationsPerBatch / compiled.plan.kernels[kernel]!.workgroupSize),
        flops: s.flopsPerBatch ?? 0,
        bytes: s.bytesPerBatch,
      };
    }),
    arena: compiled.arena.map((t) => ({
      id: t.id,
      offset: 4 * t.offset,
      bytes: 4 * t.size,
      first: t.first,
      last: Number.isFinite(t.last) ? t.last : null,
    })),
    arenaBytes: compiled.plan.memory.plannedBytes,
  };
}

/**
 * The report `polyc degree --json` prints, with structured source locations (the report spells
 * them `file:line:col`).
 */
function degreeData(m: Module, ctx: AnalysisContext, loc: (s: Span | null) => Loc | null): DegreeData {
  const report = degreeReport(m, ctx);
  const barriers = ctx.get(degreeAnalysis, m).barriers;
  return {
    polynomial: report.polynomial,
    outputs: report.outputs,
    barriers: report.barriers.map(({ loc: _, inputSegment, input, ...b }, i) => ({
      ...b,
      loc: loc(barriers[i]!.op.loc),
      input: { segment: inputSegment, ...input },
    })),
    segments: report.segments.map(({ startsAt: _, ...s }) => s),
  };
}

/** Every op of a module with the analyses' facts about it. */
function opsData(m: Module, ctx: AnalysisContext, loc: (s: Span | null) => Loc | null): OpData[] {
  const degree = ctx.get(degreeAnalysis, m);
  const live = new Map(ctx.get(livenessAnalysis, m).lifetimes.map((t) => [t.id, t]));
  const byId = new Map(m.ops.map((o) => [o.id, o]));
  return m.ops.map((op) => {
    const facts = degree.values.get(op.id);
    const t = live.get(op.id);
    return {
      ...opData(op, byId, loc),
      ...(facts && facts.segment >= 0 ? { degree: valueFacts(facts) } : {}),
      ...(t ? { live: [t.first, Number.isFinite(t.last) ? t.last : null] as const } : {}),
    };
  });
}

function valueFacts(f: ValueFacts): DegreeFacts & { segment: number } {
  return { segment: f.segment, ...factsJson(f) };
}

/** An op's own data and cost facts; `scope` resolves its operands (the module's or a region's). */
function opData(op: Op, scope: ReadonlyMap<ValueId, Op>, loc: (s: Span | null) => Loc | null): OpData {
  const reads =
    op.op === 'param' ? [op] : op.operands.map((x) => scope.get(x)!).filter((o) => o.op === 'param');
  const params = reads.reduce(
    (s, o) => s + (o.op === 'param' && o.attrs.role === 'param' ? numel(o.type.shape) : 0),
    0,
  );
  const base = {
    id: op.id,
    op: op.op,
    operands: op.operands,
    shape: op.type.shape,
    loc: loc(op.loc),
    scope: op.scope,
    flops: opFlops(op, scope),
    bytes: 4 * numel(op.type.shape),
    ...(params > 0 ? { params } : {}),
    ...(reads.length > 0 ? { keys: reads.flatMap((o) => (o.op === 'param' ? [o.attrs.key] : [])) } : {}),
  };
  if (op.op !== 'fused') return { ...base, attrs: { ...op.attrs } };
  const inner = new Map(op.attrs.body.ops.map((o) => [o.id, o]));
  return {
    ...base,
    attrs: { kind: op.attrs.kind, result: op.attrs.body.result },
    body: op.attrs.body.ops.map((o) => opData(o, inner, loc)),
  };
}
