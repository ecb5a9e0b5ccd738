import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { InspectorData } from '../../compiler/inspector/data.js';
import { type InspectorServer, serveInspector } from '../../compiler/src/cli/inspect-server.js';

/**
 * `polyc inspect --serve`: a free port, a temporary copy of the model, edits seen by the served data
 * and by the open page (headless Chromium), which redraws without a reload.
 */
describe('polyc inspect --serve', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polyc-serve-'));
  let server: InspectorServer | undefined;
  let browser: BrowserContext | undefined;
  const log: string[] = [];
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    const end = Date.now() + 30_000;
    while (Date.now() < end) {
      const got = await probe();
      if (got !== undefined) return got;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}; server said: ${log.join(' | ')}`);
  }

  it('serves the page, rebuilds on edits, reports a broken file in the data, stops', async () => {
    cpSync('examples/lib', join(dir, 'lib'), { recursive: true });
    const entry = join(dir, 'model.poly');
    const text = readFileSync('examples/cpolynext_t.poly', 'utf8');
    writeFileSync(entry, text);
    server = await serveInspector(
      { entry, settings: { layers: '1', image_size: '32' }, passes: 'default' },
      0,
      { out: (t) => log.push(t), err: (t) => log.push(t) },
    );
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(log[0]).toBe(`serving ${server.url} (Ctrl-C stops)`);
    const page = await (await fetch(server.url)).text();
    expect(page).toMatch(
      /<script id="polyc-data" type="application\/json" data-live="true" data-stages="[\d,]+">/,
    );
    const data = async () => (await (await fetch(`${server!.url}data.json`)).json()) as InspectorData;
    expect((await data()).model!.outputs[0]!.shape).toEqual(['B', 1000]);
    browser = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--no-first-run'],
    });
    const tab = await browser.newPage();
    const pageErrors: string[] = [];
    tab.on('pageerror', (e) => pageErrors.push(e.message));
    await tab.goto(server.url);
    await tab.locator('body[data-ready="true"]').waitFor();
    expect(await tab.locator('.summary [data-field="outputs"]').textContent()).toContain('[B, 1000]');

    writeFileSync(entry, text.replace('num_classes: int = 1000', 'num_classes: int = 10'));
    const rebuilt = await until('the rebuild', async () => {
      if ((await (await fetch(`${server!.url}build`)).text()) !== '2') return undefined;
      return data();
    });
    expect(rebuilt.model!.outputs[0]!.shape).toEqual(['B', 10]);
    await tab.locator('body[data-build="2"][data-ready="true"]').waitFor();
    expect(await tab.locator('.summary [data-field="outputs"]').textContent()).toContain('[B, 10]');

    writeFileSync(entry, text.replace('return polynext(', 'return polynext(('));
    const broken = await until('the broken build', async () => {
      const d = await data();
      return d.model === null ? d : undefined;
    });
    expect(broken.diagnostics.length).toBeGreaterThan(0);
    expect(broken.diagnostics[0]!.rendered).toContain('model.poly');
    const code = broken.diagnostics[0]!.code;
    expect(await (await fetch(server.url)).text()).toContain(`"code":"${code}"`);
    await tab.locator(`.diagnostics pre[data-code="${code}"]`).first().waitFor();
    expect(await tab.locator('.diagnostics pre').count()).toBe(broken.diagnostics.length);
    expect(await tab.locator('.source .line.marked').count()).toBe(1);
    expect(pageErrors).toEqual([]);

    // A second server on the same port: a usage error, not a crash.
    const port = Number(new URL(server.url).port);
    await expect(
      serveInspector({ entry, passes: 'none' }, port, { out: () => {}, err: () => {} }),
    ).rejects.toThrow(`E0701: port ${port} on 127.0.0.1 is in use`);
    await server.close();
    await expect(fetch(server.url)).rejects.toThrow();
    server = undefined;
  });
});
