import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomInput, randomWeights } from '../../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../../compiler/src/driver/run.js';
import { interpret, type Tensor } from '../../compiler/src/ir/interpret.js';
import type { Module } from '../../compiler/src/ir/types.js';
import { type CheckLine, FileCheckError, parseChecks } from './filecheck.js';

/**
 * File-driven pass tests (see "Writing a pass test" in docs/passes.md): every `.ir` file under
 * test/passes/ is a module in textual IR whose `//` comment lines hold one RUN line and CHECK lines.
 */

export interface IrTest {
  readonly file: string;
  /** The file with its comment lines blanked: the IR reader has no comments, and line numbers stay. */
  readonly source: string;
  /** The pipeline of the RUN line, as `optimizeText` takes it. */
  readonly passes: string;
  /** False when the RUN line says `--strip-locations`. */
  readonly locations: boolean;
  readonly checks: readonly CheckLine[];
}

/** Every test file under `dir`, recursively, sorted; `X.expected.ir` snapshots are not test files. */
export function discoverIrTests(dir = 'test/passes'): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return discoverIrTests(path);
      return name.endsWith('.ir') && !name.endsWith('.expected.ir') ? [path] : [];
    });
}

/**
 * Parses the RUN line: `polyc opt [%s] --passes=<list> [--strip-locations]`, the `polyc opt`
 * command that the test stands for (the file itself is the input).
 */
export function parseRunLine(text: string, file: string): { passes: string; locations: boolean } {
  const runs = text
    .split('\n')
    .map((l, i) => ({ m: /^\s*\/\/\s*RUN:(.*)$/.exec(l), line: i + 1 }))
    .filter((r) => r.m !== null);
  if (runs.length !== 1)
    throw new FileCheckError(`${file}: expected exactly one '// RUN:' line, found ${runs.length}`);
  const { m, line } = runs[0]!;
  const words = m![1]!.trim().split(/\s+/);
  const bad = (why: string) =>
    new FileCheckError(
      `${file}:${line}: ${why}; the form is 'polyc opt --passes=<list> [--strip-locations]'`,
    );
  if (words[0] !== 'polyc' || words[1] !== 'opt') throw bad('the RUN line must run polyc opt');
  let passes: string | undefined;
  let locations = true;
  for (const w of words.slice(2)) {
    if (w === '%s') continue;
    else if (w.startsWith('--passes=')) passes = w.slice('--passes='.length);
    else if (w === '--strip-locations') locations = false;
    else throw bad(`unknown argument '${w}'`);
  }
  if (passes === undefined) throw bad('no --passes=');
  return { passes, locations };
}

export function readIrTest(file: string): IrTest {
  const text = readFileSync(file, 'utf8');
  return { file, source: text, ...parseRunLine(text, file), checks: parseChecks(text, file) };
}

/**
 * Relative tolerance of the interpreter check: max|after - before| / max|before| per output. Passes
 * reassociate float32 products and move scales between ops, which changes results by rounding only.
 */
export const REL_TOLERANCE = 1e-5;

/** Batch size bound to the symbolic batch dimension: 2, so that per-image indexing is exercised. */
export const BATCH = 2;

/** Input seeds: each gives fresh inputs and fresh parameters. */
const SEEDS = [1, 2] as const;

/** Deterministic inputs for every `input` op, the batch dimension set to BATCH. */
function inputsFor(m: Module, seed: number): Tensor[] {
  return m.ops
    .filter((o) => o.op === 'input')
    .map((o, i) =>
      randomInput(
        o.type.shape.map((d) => (typeof d === 'number' ? d : BATCH)),
        seed * 101 + i,
      ),
    );
}

/**
 * Runs the interpreter on `before` and `after` with the same random inputs and parameters and
 * returns null when every output agrees within REL_TOLERANCE, or what differs. Parameters are the
 * role-aware random weights (fan-in scaled conv weights, gains 1 +- 0.1, calibrated BN statistics),
 * so that dropping or misplacing any factor shows. Non-finite elements must be identical.
 */
export function compareInterpreted(before: Module, after: Module): string | null {
  const inputCount = before.ops.filter((o) => o.op === 'input').length;
  // At least one output must have finite non-zero values, or the comparison proves nothing.
  let meaningful = false;
  for (const seed of SEEDS) {
    // Calibration runs the model on one input; other modules take plain random running statistics.
    const weights = inputCount === 1 ? syntheticWeights(before, seed) : randomWeights(before, seed);
    const inputs = inputsFor(before, seed);
    const want = interpret(before, inputs, weights);
    const got = interpret(after, inputs, weights);
    if (got.length !== want.length) return `${got.length} outputs after the passes, ${want.length} before`;
    for (const [i, w] of want.entries()) {
      const g = got[i]!;
      const where = `output ${i} (seed ${seed})`;
      if (g.shape.join() !== w.shape.join()) return `${where}: shape [${g.shape}] after, [${w.shape}] before`;
      let scale = 0;
      for (const v of w.data) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
      if (scale > 0) meaningful = true;
      let worst = 0;
      let at = 0;
      for (let k = 0; k < w.data.length; k++) {
        const a = g.data[k]!;
        const b = w.data[k]!;
        if (!Number.isFinite(b) || !Number.isFinite(a)) {
          if (!Object.is(a, b)) return `${where}[${k}]: ${a} after, ${b} before`;
          continue;
        }
        const err = Math.abs(a - b) / scale;
        if (err > worst) [worst, at] = [err, k];
      }
      if (worst > REL_TOLERANCE) {
        return `${where}: relative error ${worst.toExponential(2)} > ${REL_TOLERANCE} at element ${at} (${g.data[at]} after, ${w.data[at]} before)`;
      }
    }
  }
  return meaningful
    ? null
    : 'every output is zero or non-finite before the passes: the check would prove nothing';
}
