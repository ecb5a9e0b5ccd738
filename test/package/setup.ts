import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cli, goldenMeta, goldenSettings, readF32File } from '../helpers.js';

/**
 * The package tests' common setup: `polyc compile` of the small golden case with its checkpoint,
 * `npm pack` of the result, and `npm install --offline` of the tarball into an empty consumer
 * project (the package has no dependencies, so nothing is downloaded). The consumer lives under the
 * OS temp directory, so Node cannot find polyc's own node_modules from it.
 */

export const CASE = 'cpolynext_lr_small';
export const PKG = 'cpolynext-lr-small';
export const MAX_BATCH = 4;

export interface Installed {
  /** The directory `polyc compile` wrote. */
  readonly out: string;
  /** The consumer project. */
  readonly consumer: string;
  /** The installed package inside it. */
  readonly pkgDir: string;
  /** What `polyc compile` printed on stderr (progress). */
  readonly progress: string;
  readonly stdout: string;
}

const NPM_ENV = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false' };

export async function compileAndInstall(root: string): Promise<Installed> {
  const meta = goldenMeta(CASE);
  const out = join(root, 'out');
  const r = await cli(
    'compile',
    'examples/cpolynext_lr.poly',
    ...goldenSettings(meta),
    '--weights',
    `test/golden/${CASE}/weights.pt`,
    '-o',
    out,
    '--name',
    PKG,
    '--max-batch',
    String(MAX_BATCH),
  );
  if (r.code !== 0) throw new Error(`polyc compile failed (${r.code}):\n${r.err}`);
  execFileSync('npm', ['pack', '--pack-destination', root], { cwd: out, stdio: 'pipe', env: NPM_ENV });
  const consumer = join(root, 'consumer');
  mkdirSync(consumer);
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
  );
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', join(root, `${PKG}-0.1.0.tgz`)], {
    cwd: consumer,
    stdio: 'pipe',
    env: NPM_ENV,
  });
  return { out, consumer, pkgDir: join(consumer, 'node_modules', PKG), progress: r.err, stdout: r.out };
}

/** Makes polyc's `webgpu` package (Dawn) visible to the consumer, instead of downloading it. */
export function linkWebGpu(consumer: string): void {
  symlinkSync(realpathSync(resolve('node_modules/webgpu')), join(consumer, 'node_modules', 'webgpu'), 'dir');
}

export const goldenInput = () => readF32File(`test/golden/${CASE}/input.f32`);
export const goldenExpected = () => readF32File(`test/golden/${CASE}/expected.f32`);

/** Runs `node <script> ...args` in `cwd` and parses the JSON it prints last. */
export function runNode<T>(cwd: string, script: string, args: readonly string[] = []): T {
  const r = spawnSync(process.execPath, [script, ...args], { cwd, encoding: 'utf8', env: process.env });
  if (r.status !== 0) throw new Error(`node ${script} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}
