/**
 * `npm run bench:inspector`: how long the inspector page of a large model takes to become
 * interactive in headless Chromium (Debian's /usr/bin/chromium via playwright-core), opened from
 * file:// as a user opens it. "Interactive": the page has parsed its data, drawn the summary and
 * laid out and drawn the graph (body[data-ready="true"]), measured from the navigation's start;
 * then one interaction is timed: expanding a cell until its nodes are drawn. Also reports the time
 * to build the data and the page, and the HTML size. Prints the median of --runs page loads.
 *
 *   npm run bench:inspector -- [--model apolynext_l] [--set image_size=224] [--runs 3]
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { inspectModel } from '../compiler/src/inspect/extract.js';
import { inspectorHtml } from '../compiler/src/inspect/page.js';
import { median } from './report.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'apolynext_l' },
    set: { type: 'string', multiple: true, default: ['image_size=224'] },
    runs: { type: 'string', default: '3' },
  },
});
const entry = `examples/${values.model}.poly`;
const settings = Object.fromEntries(values.set.map((s) => s.split('=') as [string, string]));
const host = {
  readFile: (p: string) =>
    statSync(p, { throwIfNoEntry: false })?.isFile() ? readFileSync(p, 'utf8') : null,
};

const t0 = performance.now();
const data = inspectModel({ entry, settings, passes: 'default' }, host);
const t1 = performance.now();
const html = await inspectorHtml(data);
const t2 = performance.now();
const model = data.model!;
const dir = mkdtempSync(join(tmpdir(), 'polyc-bench-inspector-'));
const file = join(dir, `${model.name}.html`);
writeFileSync(file, html);
const size = statSync(file).size;
// A cell in the middle of the network (the largest groups sit there).
const cell = [...new Set(model.stages[0]!.ops!.map((o) => o.scope.split(/[.:]/).slice(0, 2).join('.')))].find(
  (s) => /^cells\.\d+$/.test(s) && Number(s.split('.')[1]) >= 8,
);

const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--no-first-run'],
  viewport: { width: 1500, height: 900 },
});
const loads: number[] = [];
const expands: number[] = [];
try {
  for (let run = 0; run < Number(values.runs); run++) {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${file}`, { waitUntil: 'commit' });
    await page.locator('body[data-ready="true"]').waitFor({ timeout: 60_000 });
    // From the navigation's start to the graph on screen, on the page's own clock.
    loads.push(Number(await page.evaluate(() => document.body.dataset.readyMs)));
    if (cell) {
      const start = Date.now();
      await page.locator(`[data-toggle="${cell}"]`).dispatchEvent('click');
      await page.locator(`[data-node="g:${cell}"].open`).waitFor({ timeout: 60_000 });
      expands.push(Date.now() - start);
    }
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    await page.close();
  }
} finally {
  await context.close();
  rmSync(dir, { recursive: true, force: true });
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
console.log(
  `${model.name} (${values.set.join(' ')}): ${model.summary.opsBefore} ops as built, ${model.summary.opsAfter} after ${model.stages.length - 1} passes, ${model.summary.dispatches} dispatches`,
);
console.log(
  `data built in ${(t1 - t0).toFixed(0)} ms, page in ${(t2 - t1).toFixed(0)} ms; HTML ${mib(size)} (${size} bytes)`,
);
console.log(
  `interactive after ${median(loads).toFixed(0)} ms (median of ${loads.length}: ${loads.map((x) => x.toFixed(0)).join(', ')})`,
);
if (cell) console.log(`expanding ${cell}: ${median(expands)} ms (median; ${expands.join(', ')})`);
