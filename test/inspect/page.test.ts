/**
 * The inspector page in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core,
 * as test/browser/chromium.test.ts), opened from file:// as a user opens the file `polyc inspect
 * --html` wrote. Every request that is not for the file itself is recorded and refused: the page
 * must need no network. The numbers the page shows are checked against the compiler's analyses
 * of an independent build of the same model.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InspectorData } from '../../compiler/inspector/data.js';
import { scopeLevels } from '../../compiler/inspector/scope.js';
import { AnalysisContext } from '../../compiler/src/analysis/context.js';
import { opFlops } from '../../compiler/src/analysis/cost.js';
import { degreeAnalysis, degreeReport } from '../../compiler/src/analysis/degree.js';
import { prepareModel } from '../../compiler/src/driver/prepare.js';
import { compileForWebGpu } from '../../compiler/src/driver/webgpu.js';
import { inspectModel } from '../../compiler/src/inspect/extract.js';
import { inspectorHtml } from '../../compiler/src/inspect/page.js';
import { numel } from '../../compiler/src/ir/shapes.js';
import type { Module, Op } from '../../compiler/src/ir/types.js';
import { cli, fsHost } from '../helpers.js';
import { launchChromium } from '../support/chromium.js';

interface Opened {
  readonly page: Page;
  readonly errors: string[];
  readonly requests: string[];
}

/** The model built independently of the inspector, as built and after the default pipeline. */
function build(entry: string): { built: Module; optimised: Module } {
  const built = prepareModel({ entry, passes: 'none' }, fsHost).model!.module;
  const optimised = prepareModel({ entry, passes: 'default' }, fsHost).model!.module;
  return { built, optimised };
}

/** What the panel must show for op `op` of module `m`. */
function expected(m: Module, op: Op) {
  const byId = new Map(m.ops.map((o) => [o.id, o]));
  const params = (op.op === 'param' ? [op] : op.operands.map((x) => byId.get(x)!))
    .filter((o) => o.op === 'param' && o.attrs.role === 'param')
    .reduce((s, o) => s + numel(o.type.shape), 0);
  const facts = new AnalysisContext().get(degreeAnalysis, m).values.get(op.id)!;
  return { flops: String(opFlops(op, byId)), params: String(params), degree: facts.degree.toString() };
}

async function field(page: Page, name: string): Promise<string | null> {
  return page.locator(`.panel [data-field="${name}"]`).first().getAttribute('data-value');
}

/** Expands the groups of `scope` in order and clicks op `id`'s node. */
async function expandAndSelect(page: Page, groups: readonly string[], id: number): Promise<void> {
  for (const g of groups) {
    await page.locator(`[data-toggle="${g}"]`).first().click();
    await page.locator(`[data-node="g:${g}"].open`).waitFor();
  }
  await page.locator(`[data-node="o:${id}"]`).click();
  await page.locator(`.panel-op[data-op="${id}"]`).waitFor();
}

describe('polyc inspect --html in headless Chromium', () => {
  let context: BrowserContext;
  let dir: string;
  const files = new Map<string, { data: InspectorData; path: string }>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'polyc-inspector-'));
    for (const entry of ['examples/cpolynext_t.poly', 'examples/cpolynext_t_bn.poly']) {
      const data = inspectModel({ entry, passes: 'default' }, fsHost);
      const path = join(dir, `${data.model!.name}.html`);
      writeFileSync(path, await inspectorHtml(data));
      files.set(entry, { data, path });
    }
    context = await launchChromium(join(dir, 'profile'), { viewport: { width: 1500, height: 900 } });
  });

  afterAll(async () => {
    await context?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function open(entry: string, noWorkers = false): Promise<Opened> {
    const page = await context.newPage();
    if (noWorkers) await page.addInitScript(() => Reflect.deleteProperty(globalThis, 'Worker'));
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    // The page's own file, and the blob: its ELK worker is started from (made in the page, no network).
    page.on('request', (r) => {
      if (!/^(file|blob):/.test(r.url())) requests.push(r.url());
    });
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file://')) return route.continue();
      if (!requests.includes(url)) requests.push(url);
      return route.abort();
    });
    await page.goto(`file://${files.get(entry)!.path}`);
    await page.locator('body[data-ready="true"]').waitFor({ timeout: 20_000 });
    return { page, errors, requests };
  }

  it('CPolyNeXt-T: opens with no errors and no network; the summary shows the exact degree', async () => {
    const { page, errors, requests } = await open('examples/cpolynext_t.poly');
    const report = degreeReport(build('examples/cpolynext_t.poly').built, new AnalysisContext());
    const top = report.segments.reduce((a, b) => (BigInt(b.degree) > BigInt(a.degree) ? b : a));
    expect(await page.locator('.summary [data-field="degree"] .digits').textContent()).toBe(top.degree);
    expect(await page.locator('.summary .poly').textContent()).toContain(
      `${report.barriers.length} non-polynomial op(s)`,
    );
    expect(await page.locator('.summary').textContent()).toContain('6,431,752');
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });

  it('CPolyNeXt-T: expand a cell, select a node: FLOPs, parameters and degree are the analyses', async () => {
    const { page, errors } = await open('examples/cpolynext_t.poly');
    const { built, optimised } = build('examples/cpolynext_t.poly');
    // The last stage: a fused PolyConv of cell 0.
    const polyconv = optimised.ops.find(
      (o) => o.op === 'fused' && o.attrs.kind === 'polyconv' && o.scope === 'cells.0:poly_conv',
    )!;
    await expandAndSelect(page, ['cells.0', 'cells.0:poly_conv'], polyconv.id);
    const want = expected(optimised, polyconv);
    expect(await field(page, 'flops')).toBe(want.flops);
    expect(await field(page, 'degree')).toBe(want.degree);
    expect(await field(page, 'params')).toBe(want.params);
    expect(await page.locator('.panel [data-field="kernel"] a').count()).toBeGreaterThan(0);
    // The module as built: a convolution reading its checkpoint weight.
    await page.selectOption('select[aria-label="stage"]', '0');
    await page.locator('[data-node="g:cells.0"]').waitFor();
    const byId = new Map(built.ops.map((o) => [o.id, o]));
    const conv = built.ops.find(
      (o) => o.op === 'conv2d' && o.scope === 'cells.0:poly_conv' && byId.get(o.operands[1]!)!.op === 'param',
    )!;
    await page.locator(`[data-node="o:${conv.id}"]`).click();
    await page.locator(`.panel-op[data-stage="0"][data-op="${conv.id}"]`).waitFor();
    const wantConv = expected(built, conv);
    expect(Number(wantConv.params)).toBeGreaterThan(0);
    expect(await field(page, 'params')).toBe(wantConv.params);
    expect(await field(page, 'flops')).toBe(wantConv.flops);
    expect(await field(page, 'degree')).toBe(wantConv.degree);
    expect(await page.locator('.source .line.marked').getAttribute('data-line')).toBe(String(conv.loc!.line));
    // The kernel it ended in: the optimised op whose region (or itself) holds that convolution;
    // the scope's PolyConvs share the line, so the n-th of them (passes keep the op order).
    const same = (o: Op) =>
      o.op === 'conv2d' && o.scope === conv.scope && JSON.stringify(o.loc) === JSON.stringify(conv.loc);
    const starts = built.ops.filter(same);
    const ends = optimised.ops.filter(
      (o) => same(o) || (o.op === 'fused' && o.scope === conv.scope && o.attrs.body.ops.some(same)),
    );
    expect(ends).toHaveLength(starts.length);
    const step = compileForWebGpu(optimised, 1).stepValues.indexOf(ends[starts.indexOf(conv)]!.id);
    expect(step).toBeGreaterThanOrEqual(0);
    expect(await field(page, 'kernel')).toBe(String(step));
    expect(errors).toEqual([]);
    await page.close();
  });

  it('CPolyNeXt-T: a click on a source line selects its ops of every stage', async () => {
    const { page, errors } = await open('examples/cpolynext_t.poly');
    const { data } = files.get('examples/cpolynext_t.poly')!;
    const stages = data.model!.stages;
    const flip = stages[0]!.ops!.find((o) => o.op === 'flip')!;
    const [file, line] = flip.loc!;
    // The oracle: every op (a fused op for its region's ops) whose location is on that line.
    const want = stages.flatMap((s, i) =>
      (s.ops ?? [])
        .filter((o) => [o, ...(o.body ?? [])].some((x) => x.loc?.[0] === file && x.loc[1] === line))
        .map((o) => `${i}:${o.id}`),
    );
    await page.locator('.file-tabs button', { hasText: data.sources[file]!.file }).click();
    await page.locator(`.source .line[data-line="${line}"]`).click();
    const panel = page.locator('.panel-line');
    await panel.waitFor();
    expect(Number(await panel.getAttribute('data-count'))).toBe(want.length);
    const links = await panel
      .locator('a.op-link')
      .evaluateAll((as) => as.map((a) => `${a.getAttribute('data-stage')}:${a.getAttribute('data-op')}`));
    expect(links.sort()).toEqual([...want].sort());
    // The graph (last stage, collapsed) marks the groups that hold them.
    await page.locator('.node.has-selected').first().waitFor();
    expect(await page.locator('.node.has-selected').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('CPolyNeXt-T: the passes view shows fuse-polyconv merging dw1, dw2, flip, product and dw3', async () => {
    const { page, errors } = await open('examples/cpolynext_t.poly');
    const { optimised } = build('examples/cpolynext_t.poly');
    await page.click('[data-tab="passes"]');
    const stage = page.locator('details.stage[data-pass="fuse-polyconv"]');
    await stage.locator('summary').click();
    const merged = stage.locator('li.change[data-kind="merged"]');
    const regions = optimised.ops.filter((o) => o.op === 'fused' && o.attrs.kind === 'polyconv').length;
    expect(regions).toBeGreaterThan(0);
    expect(await merged.count()).toBe(regions);
    const stageIndex = Number(await stage.getAttribute('data-stage'));
    for (const li of await merged.all()) {
      const before = await li.locator(`a.op-link[data-stage="${stageIndex - 1}"]`).allTextContents();
      expect(before.map((t) => t.split(' ')[1]).sort()).toEqual([
        'conv2d',
        'conv2d',
        'conv2d',
        'flip',
        'mul',
      ]);
      expect(await li.locator(`a.op-link[data-stage="${stageIndex}"]`).textContent()).toMatch(
        /fused polyconv$/,
      );
    }
    // A change is a link to its op in the graph.
    const target = merged.first().locator(`a.op-link[data-stage="${stageIndex}"]`);
    const id = await target.getAttribute('data-op');
    await target.click();
    await page.locator(`.panel-op[data-stage="${stageIndex}"][data-op="${id}"]`).waitFor();
    await page.locator(`[data-node="o:${id}"].selected`).waitFor();
    expect(errors).toEqual([]);
    await page.close();
  });

  it('CPolyNeXt-T: the kernels view lists every dispatch polyc run reports, with highlighted WGSL', async () => {
    const { page, errors } = await open('examples/cpolynext_t.poly');
    // What `polyc run --backend webgpu --stats` reports, running the model (SwiftShader here).
    const run = await cli('run', 'examples/cpolynext_t.poly', '--backend', 'webgpu', '--stats');
    expect(run.code, run.err).toBe(0);
    const dispatches = Number(/webgpu: (\d+) dispatches/.exec(run.out + run.err)?.[1]);
    expect(dispatches).toBeGreaterThan(0);
    await page.click('[data-tab="kernels"]');
    expect(await page.locator('tr.dispatch').count()).toBe(dispatches);
    await page.locator('tr.dispatch').nth(3).click();
    await page.locator('pre.wgsl .token.keyword').first().waitFor();
    expect(await page.locator('pre.wgsl').textContent()).toContain('@compute');
    expect(await page.locator('svg.memory rect.bar').count()).toBe(
      files.get('examples/cpolynext_t.poly')!.data.model!.plan.arena.length,
    );
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  it('without Web Workers the graph is laid out in the page itself', async () => {
    const { page, errors } = await open('examples/cpolynext_t.poly', true);
    expect(await page.evaluate(() => typeof Worker)).toBe('undefined');
    expect(await page.locator('[data-node="g:cells.0"]').count()).toBe(1);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('CPolyNeXt-T-BN: a polynomial; the summary shows its exact degree; a node shows its degree', async () => {
    const { page, errors, requests } = await open('examples/cpolynext_t_bn.poly');
    const { built, optimised } = build('examples/cpolynext_t_bn.poly');
    const report = degreeReport(built, new AnalysisContext());
    expect(report.polynomial).toBe(true);
    expect(await page.locator('.summary [data-field="degree"] .digits').textContent()).toBe(
      report.outputs[0]!.degree,
    );
    expect(await page.locator('.summary .poly').textContent()).toContain(
      `multiplicative depth ${report.outputs[0]!.depthAsWritten} as written, ${report.outputs[0]!.depthBalanced} balanced`,
    );
    const out = optimised.ops.find((o) => o.id === optimised.outputs[0])!;
    await expandAndSelect(
      page,
      scopeLevels(out.scope).map((l) => l.id),
      out.id,
    );
    expect(await field(page, 'degree')).toBe(report.outputs[0]!.degree);
    expect(await field(page, 'flops')).toBe(expected(optimised, out).flops);
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });
});
