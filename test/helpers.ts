import { existsSync, readFileSync, statSync } from 'node:fs';
import { runCli } from '../compiler/src/cli/main.js';
import { buildModel } from '../compiler/src/driver/frontend.js';
import type { Module } from '../compiler/src/ir/types.js';

export const fsHost = {
  readFile: (p: string) => (existsSync(p) && statSync(p).isFile() ? readFileSync(p, 'utf8') : null),
};

/** The twelve released models in examples/. */
export const EXAMPLE_MODELS = [
  'cpolynext_t',
  'cpolynext_s',
  'cpolynext_b',
  'cpolynext_l',
  'apolynext_t',
  'apolynext_s',
  'apolynext_b',
  'apolynext_l',
  'cpolynext_lr',
  'cpolynext_t_bn',
  'apolynext_t_bn',
  'cpolynext_s_bn',
] as const;

/** An example at small settings (16 channels, 10 classes, 64x64; LowRes at 32x32), for fast tests. */
export function smallExample(name: string): { module: Module; size: number } {
  const size = name === 'cpolynext_lr' ? 32 : 64;
  return {
    module: buildExample(`examples/${name}.poly`, {
      init_channels: '16',
      num_classes: '10',
      image_size: String(size),
    }),
    size,
  };
}

/** Builds an example model or fails the test with the rendered diagnostics. */
export function buildExample(file: string, settings: Record<string, string> = {}): Module {
  const r = buildModel(file, fsHost, settings);
  if (!r.model) throw new Error(`${file} failed:\n${JSON.stringify(r.diagnostics, null, 2)}`);
  return r.model.module;
}

export function readF32File(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** max|a - b| / max|b|: the relative error measure used throughout the tests. */
export function relError(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

/** Runs the CLI in-process and captures what it prints. */
export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`) });
  return { code, out, err };
}

export interface GoldenMeta {
  name: string;
  init_channels: number;
  layers: number;
  num_classes: number;
  input_shape: number[];
  output_shape: number[];
  weights: string;
  params: number;
  config: string;
  reference_class: string;
}

/** The `--set` arguments that build a golden case's model. */
export function goldenSettings(meta: GoldenMeta): string[] {
  return [
    ['init_channels', meta.init_channels],
    ['layers', meta.layers],
    ['num_classes', meta.num_classes],
    ['image_size', meta.input_shape[2]],
  ].flatMap(([k, v]) => ['--set', `${k}=${v}`]);
}

export function goldenMeta(name: string): GoldenMeta {
  return JSON.parse(readFileSync(`test/golden/${name}/meta.json`, 'utf8')) as GoldenMeta;
}
