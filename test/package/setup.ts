import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AnalysisContext } from '../../compiler/src/analysis/context.js';
import { renderKernel, type Unit } from '../../compiler/src/codegen/wgsl/kernels.js';
import { buildPlan } from '../../compiler/src/codegen/wgsl/plan.js';
import { renderVariant, unitSignature, variantSpace } from '../../compiler/src/codegen/wgsl/variants.js';
import {
  emptyTuneCache,
  formatTuneCache,
  mergeTuneCache,
  type TuneEntry,
} from '../../compiler/src/driver/tune-cache.js';
import { runPasses } from '../../compiler/src/passes/manager.js';
import { parsePipeline } from '../../compiler/src/passes/pipeline.js';
import { buildExample, cli, type GoldenMeta, goldenMeta, goldenSettings, readF32File } from '../helpers.js';

/**
 * The package tests' common setup: `polyc compile` of the small golden case with its checkpoint
 * (and a tune cache choosing other kernel variants than the rules),
 * `npm pack` of the result, and `npm install --offline` of the tarball into an empty consumer
 * project (the package has no dependencies, so nothing is downloaded). The consumer lives under the
 * OS temp directory, so Node cannot find polyc's own node_modules from it.
 */

export const CASE = 'cpolynext_lr_small';
export const PKG = 'cpolynext-lr-small';
export const MAX_BATCH = 4;
/** The case's 10 classes get these names (`--labels`, a JSON file) and the package an MIT licence. */
export const LABELS = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];
export const LICENSE = 'MIT';

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

/**
 * A tune cache choosing, for every kernel of the case that has variants, a variant whose WGSL
 * differs from the rule's: the package tests then run a package compiled with tuned choices (the
 * rule's kernels are checked against the interpreter in test/codegen).
 */
function tuneCache(meta: GoldenMeta, file: string): void {
  const settings = {
    init_channels: String(meta.init_channels),
    layers: String(meta.layers),
    num_classes: String(meta.num_classes),
    image_size: String(meta.input_shape[2]),
  };
  const m = runPasses(buildExample('examples/cpolynext_lr.poly', settings), parsePipeline('default')).module;
  const units: Unit[] = [];
  buildPlan(m, 1, new AnalysisContext(), (u) => {
    units.push(u);
    return renderKernel(u);
  });
  const entries: Record<string, TuneEntry> = {};
  for (const u of units) {
    const space = variantSpace(u);
    const rule = renderKernel(u);
    // Knobs of the rule's own template (not the staged PolyConv or the generic path, whose kernels
    // are far slower on SwiftShader and would only slow the tests down).
    const variant = space.others.find(
      (v) =>
        v.template === space.default.template && !('mode' in v) && renderVariant(u, v)?.wgsl !== rule.wgsl,
    );
    if (variant) {
      entries[unitSignature(u)] = {
        variant,
        ms: 1,
        defaultMs: 1,
        batch: 1,
        kernel: rule.name,
        candidates: [],
      };
    }
  }
  writeFileSync(file, formatTuneCache(mergeTuneCache(emptyTuneCache(), 'package test', entries)));
}

export async function compileAndInstall(root: string): Promise<Installed> {
  const meta = goldenMeta(CASE);
  const out = join(root, 'out');
  const cache = join(root, 'tune.json');
  tuneCache(meta, cache);
  const labels = join(root, 'labels.json');
  writeFileSync(labels, JSON.stringify(LABELS));
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
    '--tune-cache',
    cache,
    '--labels',
    labels,
    '--license',
    LICENSE,
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
