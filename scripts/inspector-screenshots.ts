/**
 * The screenshots in docs/inspector.md: the inspector pages of CPolyNeXt-T and its BatchNorm
 * variant in headless Chromium, after the interactions each picture shows.
 *
 *   npx tsx scripts/inspector-screenshots.ts
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { inspectModel } from '../compiler/src/inspect/extract.js';
import { inspectorHtml } from '../compiler/src/inspect/page.js';

const host = {
  readFile: (p: string) =>
    statSync(p, { throwIfNoEntry: false })?.isFile() ? readFileSync(p, 'utf8') : null,
};
const dir = mkdtempSync(join(tmpdir(), 'polyc-shots-'));
const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--no-first-run'],
  viewport: { width: 1400, height: 860 },
});

async function open(entry: string): Promise<Page> {
  const data = inspectModel({ entry, passes: 'default' }, host);
  const file = join(dir, `${data.model!.name}.html`);
  writeFileSync(file, await inspectorHtml(data));
  const page = await context.newPage();
  await page.goto(`file://${file}`);
  await page.locator('body[data-ready="true"]').waitFor({ timeout: 30_000 });
  return page;
}

async function settle(page: Page): Promise<void> {
  await page.waitForTimeout(600);
}

try {
  const ct = await open('examples/cpolynext_t.poly');
  await ct.locator('[data-toggle="cells.0"]').dispatchEvent('click');
  await ct.locator('[data-node="g:cells.0"].open').waitFor();
  await ct.locator('[data-toggle="cells.0:poly_conv"]').dispatchEvent('click');
  await ct.locator('[data-node="g:cells.0:poly_conv"].open').waitFor();
  await ct.selectOption('select[aria-label="overlay"]', 'flops');
  await settle(ct);
  await ct.locator('.node.op.fused').first().dispatchEvent('click');
  await settle(ct);
  await ct.screenshot({ path: 'docs/inspector-graph.png' });

  await ct.click('[data-tab="passes"]');
  await ct.locator('details.stage[data-pass="fuse-polyconv"] summary').click();
  await settle(ct);
  await ct.screenshot({ path: 'docs/inspector-passes.png' });

  await ct.click('[data-tab="kernels"]');
  await ct.locator('tr.dispatch').nth(4).click();
  await settle(ct);
  await ct.screenshot({ path: 'docs/inspector-kernels.png' });

  const bn = await open('examples/cpolynext_t_bn.poly');
  await bn.selectOption('select[aria-label="overlay"]', 'degree');
  await settle(bn);
  await bn.locator('.file-tabs button', { hasText: 'polynext.poly' }).click();
  await bn.locator('.source .line', { hasText: 'm  = dwconv(' }).click();
  await settle(bn);
  await bn.screenshot({ path: 'docs/inspector-degree.png' });
} finally {
  await context.close();
  rmSync(dir, { recursive: true, force: true });
}
