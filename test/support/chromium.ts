/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium (or CHROMIUM_PATH) driven by
 * playwright-core. Without Chromium the tests fail with an install hint; they never skip.
 */
import { existsSync } from 'node:fs';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags every test browser gets: no sandbox (root in containers), no background traffic. */
export const BASE_FLAGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
] as const;

/** WebGPU on SwiftShader where there is no GPU (needs a page from 127.0.0.1 or file://). */
export const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  ...BASE_FLAGS,
] as const;

/** A persistent headless context in `profile` (a fresh directory), with `args` (default BASE_FLAGS). */
export async function launchChromium(
  profile: string,
  options: { args?: readonly string[]; viewport?: { width: number; height: number } } = {},
): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...(options.args ?? BASE_FLAGS)],
    ...(options.viewport ? { viewport: options.viewport } : {}),
  });
}
