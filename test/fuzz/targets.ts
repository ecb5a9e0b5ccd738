import { readFileSync } from 'node:fs';
import { AnalysisContext } from '../../compiler/src/analysis/context.js';
import { costAnalysis } from '../../compiler/src/analysis/cost.js';
import { degreeReport } from '../../compiler/src/analysis/degree.js';
import { type Diagnostic, DiagnosticError } from '../../compiler/src/diagnostics/diagnostic.js';
import { buildModel } from '../../compiler/src/driver/frontend.js';
import { optimizeText } from '../../compiler/src/driver/opt.js';
import { randomInput } from '../../compiler/src/driver/random-weights.js';
import {
  expectedParams,
  loadInput,
  loadWeights,
  runModel,
  syntheticWeights,
} from '../../compiler/src/driver/run.js';
import { interpret } from '../../compiler/src/ir/interpret.js';
import { printModule } from '../../compiler/src/ir/print.js';
import { readModule } from '../../compiler/src/ir/read.js';
import type { Module } from '../../compiler/src/ir/types.js';
import { verifyModule } from '../../compiler/src/ir/verify.js';
import { runPasses } from '../../compiler/src/passes/manager.js';
import { parsePipeline } from '../../compiler/src/passes/pipeline.js';
import type { CheckpointCase, TensorSpec } from './arbitraries/checkpoint.js';
import type { IrCase } from './arbitraries/ir.js';
import type { InputCase } from './arbitraries/npy.js';
import type { PolyCase } from './arbitraries/poly.js';

/**
 * The oracle of every fuzz target: run one case through the compiler's entry points, in process,
 * and classify what happened. A case must end in success or in coded user diagnostics (what the
 * CLI reports with exit 1); anything else (an exception that is not a DiagnosticError, which the
 * CLI reports as an internal error with exit 2, or a diagnostic that says the compiler broke its
 * own IR) is a failure, as is a broken property of a case that succeeded (print/read round trip,
 * passes that change results). Hangs and memory are judged outside, by the campaign's workers.
 */

export type Target = 'poly' | 'ir' | 'npy' | 'ckpt';
export const TARGETS: readonly Target[] = ['poly', 'ir', 'npy', 'ckpt'];

export type Outcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'diagnostic'; readonly codes: readonly string[]; readonly message: string }
  | { readonly kind: 'failure'; readonly reason: string; readonly message: string };

export interface CaseOf {
  poly: PolyCase;
  ir: IrCase;
  npy: InputCase;
  ckpt: CheckpointCase;
}

const ENTRY = '/fuzz/main.poly';
const LIBRARY = readFileSync(new URL('../../examples/lib/polynext.poly', import.meta.url), 'utf8');

function hostFor(text: string): { readFile(p: string): string | null } {
  return { readFile: (p) => (p === ENTRY ? text : p === '/fuzz/lib/polynext.poly' ? LIBRARY : null) };
}

function diagnostics(ds: readonly Diagnostic[]): Outcome {
  if (ds.length === 0)
    return { kind: 'failure', reason: 'no-diagnostic', message: 'failed without a diagnostic' };
  return { kind: 'diagnostic', codes: [...new Set(ds.map((d) => d.code))].sort(), message: ds[0]!.message };
}

/** Runs `fn`, turning a DiagnosticError into diagnostics and any other exception into a failure. */
function guarded(fn: () => Outcome): Outcome {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DiagnosticError) return diagnostics(e.diagnostics);
    const err = e instanceof Error ? e : new Error(String(e));
    const where = err.stack
      ?.split('\n')
      .find((l) => l.includes('/compiler/src/') || l.includes('/runtime/src/'));
    return {
      kind: 'failure',
      reason: `internal: ${err.name}`,
      message: `${err.message}${where ? `\n${where.trim()}` : ''}`,
    };
  }
}

/** max|a-b| / max|b| over finite outputs; null when the outputs overflowed (not comparable). */
function relError(a: Float32Array, b: Float32Array): number | null {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(a[i]!) || !Number.isFinite(b[i]!)) return null;
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Small enough to interpret in a fuzz case (elements of weights, FLOPs per image). */
const INTERPRET_PARAMS = 200_000;
const INTERPRET_FLOPS = 2_000_000;

/**
 * A `.poly` case: build (parse, elaborate, verify), then for a model that builds: print/read
 * round trip, cost and degree analyses, the default pipeline (its result verified), and for small
 * models the interpreter before and after the passes, which must agree.
 */
export function runPoly(c: PolyCase): Outcome {
  return guarded(() => {
    const built = buildModel(ENTRY, hostFor(c.text), c.settings);
    if (!built.model) {
      const bug = built.diagnostics.find((d) => d.code === 'E0802');
      if (bug) return { kind: 'failure', reason: 'front end built invalid IR (E0802)', message: bug.message };
      return diagnostics(built.diagnostics);
    }
    const m = built.model.module;
    const roundTrip = roundTripProblem(m);
    if (roundTrip) return roundTrip;
    const context = new AnalysisContext();
    const cost = context.get(costAnalysis, m);
    degreeReport(m, context);
    const { module: optimised } = runPasses(m, parsePipeline('default'), { context });
    const broken = passesBrokeIr(optimised);
    if (broken) return broken;
    if (cost.params + cost.buffers <= INTERPRET_PARAMS && cost.flops <= INTERPRET_FLOPS) {
      const weights = syntheticWeights(m);
      const input = m.ops.find((o) => o.op === 'input')!;
      const x = randomInput(
        input.type.shape.map((d) => (typeof d === 'number' ? d : 2)),
        7,
      );
      const before = interpret(m, [x], weights);
      // Passes reassociate float32 arithmetic, so they may only be held to the tolerance where the
      // model is well conditioned: a model whose output moves past it when its weights move by a
      // relative 1e-6 (e.g. LayerNorms over nearly equal channels, which amplify rounding) is
      // compared only as far as it builds, verifies and runs.
      const nudged = interpret(m, [x], nudge(weights, 1e-6));
      if (before.some((t, i) => (relError(nudged[i]!.data, t.data) ?? 0) > 1e-5)) return { kind: 'ok' };
      const after = interpret(optimised, [x], weights);
      for (let i = 0; i < before.length; i++) {
        const err = relError(after[i]!.data, before[i]!.data);
        if (err !== null && err > 1e-4) {
          return {
            kind: 'failure',
            reason: 'passes change results',
            message: `output ${i}: relative error ${err}`,
          };
        }
      }
    }
    return { kind: 'ok' };
  });
}

/** Every weight scaled by 1 + a relative step in [-2, 2] x `rel`, deterministic. */
function nudge(weights: ReadonlyMap<string, Float32Array>, rel: number): Map<string, Float32Array> {
  return new Map([...weights].map(([k, t]) => [k, t.map((v, i) => v * (1 + rel * ((i % 5) - 2)))]));
}

/**
 * The pipeline's result verified once (verify-each after every pass would triple a case's time;
 * a pass that breaks the IR still shows here, and the pass tests name which one).
 */
function passesBrokeIr(m: Module): Outcome | null {
  const problems = verifyModule(m);
  if (problems.length === 0) return null;
  return { kind: 'failure', reason: 'passes broke the IR', message: problems[0]!.message };
}

function roundTripProblem(m: Module): Outcome | null {
  const text = printModule(m);
  const again = printModule(readModule(text, 'printed.ir'));
  if (again === text) return null;
  const lines = text.split('\n');
  const i = again.split('\n').findIndex((l, j) => l !== lines[j]);
  return {
    kind: 'failure',
    reason: 'print/read round trip differs',
    message: `first difference at line ${i + 1}: ${lines[i]}`,
  };
}

/** An IR text: read (E0801), verify (E0802), the default pipeline (its result verified), printed back. */
export function runIr(c: IrCase): Outcome {
  return guarded(() => {
    const r = optimizeText(c.text, 'case.ir', { passes: 'default' });
    return (
      passesBrokeIr(r.module) ?? roundTripProblem(r.input) ?? roundTripProblem(r.module) ?? { kind: 'ok' }
    );
  });
}

/** The small model the input and checkpoint targets load into (BatchNorm: buffers, an ignored key). */
export const TINY_MODEL = [
  'model tiny(image: f32[B, 3, 4, 4]) {',
  '  x = conv2d(self.stem, image, out=2, k=3)',
  '  x = batchnorm2d(self.bn, x)',
  '  x = x * pwconv(self.pw, x, out=2)',
  '  return linear(self.head, mean_hw(x), out=3)',
  '}',
  '',
].join('\n');

let tiny: { module: Module; weights: Map<string, Float32Array> } | undefined;

function tinyModel(): { module: Module; weights: Map<string, Float32Array> } {
  if (tiny) return tiny;
  const built = buildModel(ENTRY, hostFor(TINY_MODEL));
  if (!built.model) throw new Error(`the tiny model does not build: ${JSON.stringify(built.diagnostics)}`);
  tiny = { module: built.model.module, weights: syntheticWeights(built.model.module) };
  return tiny;
}

export function tinyModule(): Module {
  return tinyModel().module;
}

/** The tiny model's input shape without the batch: [3, 4, 4]. */
export const TINY_INPUT = [3, 4, 4] as const;

/** The checkpoint tensors the tiny model expects. */
export function tinyTensors(): TensorSpec[] {
  return expectedParams(tinyModel().module).map(({ key, shape }) => ({ key, shape }));
}

/** A `polyc run` input: loaded and checked against the tiny model, then interpreted. */
export function runNpy(c: InputCase): Outcome {
  return guarded(() => {
    const { module, weights } = tinyModel();
    const input = loadInput(module, c.bytes, 'input.npy', c.shape);
    runModel(module, input, weights);
    return { kind: 'ok' };
  });
}

/** A checkpoint: read and matched against the tiny model by key and shape, then run. */
export function runCheckpoint(c: CheckpointCase): Outcome {
  return guarded(() => {
    const { module } = tinyModel();
    const weights = loadWeights(module, c.bytes, c.name);
    runModel(module, { shape: [1, ...TINY_INPUT], data: new Float32Array(48) }, weights);
    return { kind: 'ok' };
  });
}

export function runCase<T extends Target>(target: T, c: CaseOf[T]): Outcome {
  switch (target) {
    case 'poly':
      return runPoly(c as PolyCase);
    case 'ir':
      return runIr(c as IrCase);
    case 'npy':
      return runNpy(c as InputCase);
    default:
      return runCheckpoint(c as CheckpointCase);
  }
}
