import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import type { InspectorData, ModelData, OpData } from '../../compiler/inspector/data.js';
import { AnalysisContext } from '../../compiler/src/analysis/context.js';
import { cost, opFlops } from '../../compiler/src/analysis/cost.js';
import { degreeAnalysis, degreeReport } from '../../compiler/src/analysis/degree.js';
import { toDot } from '../../compiler/src/inspect/dot.js';
import { inspectModel } from '../../compiler/src/inspect/extract.js';
import { inspectorHtml } from '../../compiler/src/inspect/page.js';
import { DEFAULT_PIPELINE } from '../../compiler/src/passes/pipeline.js';
import { buildExample, cli, fsHost } from '../helpers.js';

const schema = JSON.parse(readFileSync('docs/inspector.schema.json', 'utf8')) as object;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

const inspect = (entry: string, passes = 'default'): InspectorData => inspectModel({ entry, passes }, fsHost);

/** The ops of stage `i` (a stage without ops repeats the one before). */
function stageOps(m: ModelData, i: number): readonly OpData[] {
  for (let j = i; j >= 0; j--) {
    const ops = m.stages[j]!.ops;
    if (ops) return ops;
  }
  throw new Error('stage 0 has no ops');
}

describe('inspector data (polyc inspect --json)', () => {
  const ct = inspect('examples/cpolynext_t.poly');
  const bn = inspect('examples/cpolynext_t_bn.poly');

  it('validates against docs/inspector.schema.json', () => {
    for (const data of [ct, bn]) {
      const ok = validate(JSON.parse(JSON.stringify(data)));
      expect(validate.errors ?? []).toEqual([]);
      expect(ok).toBe(true);
    }
  });

  it('the schema rejects data that breaks it', () => {
    const broken = JSON.parse(JSON.stringify(ct)) as {
      model: { stages: { ops: unknown }[]; summary: object };
    };
    broken.model.stages[0]!.ops = [{ id: -1, op: 'add' }];
    expect(validate(broken)).toBe(false);
    const extra = JSON.parse(JSON.stringify(ct)) as { model: { summary: Record<string, unknown> } };
    extra.model.summary.surprise = 1;
    expect(validate(extra)).toBe(false);
  });

  it('one stage per pass of the pipeline after the module as built', () => {
    const m = ct.model!;
    expect(m.stages.map((s) => s.pass)).toEqual([null, ...DEFAULT_PIPELINE]);
    expect(m.stages[0]!.opCount).toBe(buildExample('examples/cpolynext_t.poly').ops.length);
    expect(m.summary.opsAfter).toBe(m.stages.at(-1)!.opCount);
  });

  it('the summary and per-op facts are the analyses of each stage', () => {
    const module = buildExample('examples/cpolynext_t_bn.poly');
    const m = bn.model!;
    const c = cost(module);
    expect(m.summary.params).toBe(c.params);
    expect(m.summary.buffers).toBe(c.buffers);
    const report = degreeReport(module, new AnalysisContext());
    expect(m.degree.polynomial).toBe(true);
    expect(m.degree.outputs[0]!.degree).toBe(report.outputs[0]!.degree);
    expect(m.degree.outputs[0]!.degree).toBe('9444732965739290427392');
    const facts = new AnalysisContext().get(degreeAnalysis, module);
    const byId = new Map(module.ops.map((o) => [o.id, o]));
    for (const op of stageOps(m, 0)) {
      expect(op.flops).toBe(opFlops(byId.get(op.id)!, byId));
      const f = facts.values.get(op.id)!;
      if (f.segment >= 0) expect(op.degree?.degree).toBe(f.degree.toString());
      else expect(op.degree).toBeUndefined();
    }
  });

  it('fuse-polyconv: each PolyConv region merged two depthwise branches, the flip, the product and dw3', () => {
    const m = ct.model!;
    const i = m.stages.findIndex((s) => s.pass === 'fuse-polyconv');
    const merged = m.stages[i]!.changes.filter((c) => c.kind === 'merged');
    expect(merged.length).toBeGreaterThan(0);
    const before = new Map(stageOps(m, i - 1).map((o) => [o.id, o]));
    const after = new Map(stageOps(m, i).map((o) => [o.id, o]));
    for (const c of merged) {
      expect(c.before.map((id) => before.get(id)!.op).sort()).toEqual([
        'conv2d',
        'conv2d',
        'conv2d',
        'flip',
        'mul',
      ]);
      expect(after.get(c.after[0]!)!.attrs.kind).toBe('polyconv');
    }
    // One PolyConv per conv cell: as many regions as fused polyconv ops after the pass.
    const regions = stageOps(m, i).filter((o) => o.op === 'fused' && o.attrs.kind === 'polyconv');
    expect(merged).toHaveLength(regions.length);
  });

  it('every op of a changed stage is kept (the same op renumbered) or the result of a change', () => {
    const m = ct.model!;
    for (let i = 1; i < m.stages.length; i++) {
      const s = m.stages[i]!;
      if (!s.changed) {
        expect(s.kept).toEqual([]);
        continue;
      }
      const before = new Map(stageOps(m, i - 1).map((o) => [o.id, o]));
      const after = new Map(stageOps(m, i).map((o) => [o.id, o]));
      const accounted = new Set([...s.kept.map(([, b]) => b), ...s.changes.flatMap((c) => c.after)]);
      expect(accounted.size, s.pass!).toBe(s.opCount);
      for (const [a, b] of s.kept) {
        const [x, y] = [before.get(a)!, after.get(b)!];
        expect([y.op, y.scope, y.shape, y.loc]).toEqual([x.op, x.scope, x.shape, x.loc]);
      }
    }
  });

  it('the plan: dispatches, members and the memory plan', () => {
    const m = ct.model!;
    expect(m.summary.dispatches).toBe(m.plan.steps.filter((s) => s.invocations > 0).length);
    const last = new Set(stageOps(m, m.stages.length - 1).map((o) => o.id));
    for (const s of m.plan.steps) {
      expect(m.plan.kernels[s.kernel]).toBeDefined();
      for (const id of s.members) expect(last.has(id)).toBe(true);
    }
    for (const a of m.plan.arena) expect(a.offset + a.bytes).toBeLessThanOrEqual(m.plan.arenaBytes);
  });

  it('a source with errors gives its diagnostics and no model', () => {
    const data = inspectModel(
      { entry: 'bad.poly', passes: 'default' },
      { readFile: (f) => (f === 'bad.poly' ? 'model m(x: f32[B, 3, 8, 8]) { return x +* 1 }' : null) },
    );
    expect(data.model).toBeNull();
    expect(data.diagnostics.length).toBeGreaterThan(0);
    expect(data.diagnostics[0]!.rendered).toContain(data.diagnostics[0]!.code);
    expect(validate(data)).toBe(true);
  });

  it('the page: a source text cannot close the script elements the data sits in', async () => {
    const text =
      'model m(x: f32[B, 3, 8, 8]) {  # </script><script>alert(1)</script> <!--\n  return x * x\n}\n';
    const data = inspectModel(
      { entry: 'm.poly', passes: 'default' },
      { readFile: (f) => (f === 'm.poly' ? text : null) },
    );
    expect(data.model).not.toBeNull();
    const html = await inspectorHtml(data);
    const opened = html.match(/<script\b/g)!.length;
    expect(html.match(/<\/script>/gi)!.length).toBe(opened);
    expect(opened).toBe(2 + data.model!.stages.filter((s) => s.ops).length);
    expect(html).not.toContain('<!--\\n');
  });

  it('--dot: clusters by scope, data-path ops only', () => {
    const dot = toDot(ct.model!);
    expect(dot.startsWith('digraph "cpolynext_t" {')).toBe(true);
    expect(dot).toContain('label="cells.0";');
    expect(dot).toContain('label="poly_conv";');
    expect(dot).not.toMatch(/ param\\n/);
  });

  it('polyc inspect --json and --dot write the files; without them it prints the IR', async () => {
    const dir = (await import('node:fs')).mkdtempSync(`${(await import('node:os')).tmpdir()}/polyc-inspect-`);
    const r = await cli(
      'inspect',
      'examples/cpolynext_t.poly',
      '--set',
      'layers=1',
      '--json',
      `${dir}/m.json`,
      '--dot',
      `${dir}/m.dot`,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const data = JSON.parse(readFileSync(`${dir}/m.json`, 'utf8')) as InspectorData;
    expect(validate(data)).toBe(true);
    expect(data.model!.settings.layers).toBe(1);
    expect(readFileSync(`${dir}/m.dot`, 'utf8')).toContain('digraph');
    const timed = await cli(
      'inspect',
      'examples/cpolynext_t.poly',
      '--set',
      'layers=1',
      '--json',
      `${dir}/t.json`,
      '--timing',
      '--verify-each',
    );
    expect(timed.code).toBe(0);
    expect(timed.err).toMatch(/^pass timing:\n {2}canonicalize /);
    expect(timed.err).toContain('  fuse-polyconv ');
    const text = await cli('inspect', 'examples/cpolynext_t.poly', '--set', 'layers=1');
    expect(text.out).toMatch(/^module cpolynext_t batch B {/);
  });
});
