import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { buildModel } from '../compiler/src/driver/frontend.js';
import type { Elaborated } from '../compiler/src/frontend/elaborate.js';
import type { Profile } from '../runtime/src/index.js';

export { relDiff } from '../compiler/src/driver/tune.js';

/** Shared by the benchmarks: building examples, timing and the sectioned report file. */

/** `examples/<name>.poly` built with `settings`, or an error with the diagnostics. */
export function buildExampleModel(name: string, settings: Record<string, string> = {}): Elaborated {
  const host = {
    readFile: (p: string) => (existsSync(p) && statSync(p).isFile() ? readFileSync(p, 'utf8') : null),
  };
  const r = buildModel(`examples/${name}.poly`, host, settings);
  if (!r.model) throw new Error(`${name}: ${JSON.stringify(r.diagnostics)}`);
  return r.model;
}

/**
 * Writes `content` as the named section of a markdown report, keeping the other sections: each
 * benchmark owns the text between `<!-- name -->` and `<!-- /name -->`.
 */
export function writeSection(file: string, name: string, content: string): void {
  const open = `<!-- ${name} -->`;
  const close = `<!-- /${name} -->`;
  const block = `${open}\n${content.trim()}\n${close}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  text =
    start >= 0 && end > start
      ? text.slice(0, start) + block + text.slice(end + close.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
}

/** `--runs` and `--warmup`, which every timing benchmark takes (spread into its parseArgs options). */
export const TIMING_OPTIONS = {
  runs: { type: 'string', default: '3' },
  warmup: { type: 'string', default: '1' },
} as const;

/** The options of the benchmarks over example models: which ones, at which batches and image size, where to report. */
export const MODEL_BENCH_OPTIONS = {
  ...TIMING_OPTIONS,
  batches: { type: 'string', default: '1' },
  size: { type: 'string', default: '224' },
  out: { type: 'string', default: 'docs/benchmarks.md' },
} as const;

/** The timing options as numbers, and `timeRuns` with them. */
export function timing(values: { readonly runs: string; readonly warmup: string }) {
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  return {
    runs,
    warmup,
    time: (fn: () => Promise<Float32Array>) => timeRuns(fn, warmup, runs),
    interleaved: (fns: readonly (() => Promise<Float32Array>)[]) => timeInterleaved(fns, warmup, runs),
  };
}

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The median wall time of `runs` calls after `warmup` calls, and the last result. */
export async function timeRuns(
  fn: () => Promise<Float32Array>,
  warmup: number,
  runs: number,
): Promise<{ ms: number; out: Float32Array }> {
  return (await timeInterleaved([fn], warmup, runs))[0]!;
}

/**
 * `timeRuns` of several functions with their calls interleaved (one of each per round), so that a
 * change in the machine's load touches them alike: for ratios between variants.
 */
export async function timeInterleaved(
  fns: readonly (() => Promise<Float32Array>)[],
  warmup: number,
  runs: number,
): Promise<{ ms: number; out: Float32Array }[]> {
  const outs: Float32Array[] = fns.map(() => new Float32Array());
  const times: number[][] = fns.map(() => []);
  for (let i = 0; i < warmup + runs; i++) {
    for (const [k, fn] of fns.entries()) {
      const t0 = performance.now();
      outs[k] = await fn();
      if (i >= warmup) times[k]!.push(performance.now() - t0);
    }
  }
  return fns.map((_, k) => ({ ms: median(times[k]!), out: outs[k]! }));
}

/**
 * Kernels that do a model's multiply-accumulate work: convolutions, GEMMs and matmuls, and the fused
 * kernels built around them. Every other kernel (elementwise ops, norms, reductions) does work that
 * fusion folds into its neighbours.
 */
const MAC_KINDS = /^(conv2d|gemm|linear|matmul|tile|polyconv|attention)/;
export const WORK_SPLIT_HEAD = [
  '| variant | convolution and matmul kernels ms | other kernels ms | other share | fusion ceiling |',
  '|---|---|---|---|---|',
].join('\n');

/**
 * A profile's time split between MAC_KINDS and the rest. The ceiling is what fusing everything else
 * away could gain over this variant, were its convolutions to run at these kernels' speed: total /
 * convolution time. For fusion off it bounds fused / fusion off on this adapter at this speed.
 */
export function workSplit(variant: string, p: Profile): string {
  const mac = p.kinds.filter((k) => MAC_KINDS.test(k.kind)).reduce((n, k) => n + k.ms, 0);
  const other = p.ms - mac;
  const ceiling = mac > 0 ? `${(p.ms / mac).toFixed(2)}x` : 'n/a';
  return `| ${variant} | ${mac.toFixed(0)} | ${other.toFixed(0)} | ${((100 * other) / p.ms).toFixed(0)}% | ${ceiling} |`;
}
