import type { AnalysisContext } from '../analysis/context.js';
import { renderDiagnostics } from '../diagnostics/render.js';
import { type PrepareRequest, prepareModel } from '../driver/prepare.js';
import { parseTuneCache, type TunedChoices, tunedChoices } from '../driver/tune-cache.js';
import type { Elaborated } from '../frontend/elaborate.js';
import { parseLimits } from '../frontend/limits.js';
import { formatTiming, type PassRecord, type RunOptions } from '../passes/manager.js';
import { EXIT_USER, flag, type Invocation, list, onlyOperand, str, usageError } from './command.js';
import { fileHost, readTextOrFail } from './files.js';

/**
 * `--passes`, `--print-ir-after` and `--verify-each` as pass-manager options, with IR dumps going
 * to stderr: shared by the model-building commands and `polyc opt`.
 */
export function pipelineOptions(inv: Invocation, defaultPasses: string): RunOptions & { passes: string } {
  const after = str(inv, 'print-ir-after');
  return {
    passes: str(inv, 'passes') ?? defaultPasses,
    verifyEach: flag(inv, 'verify-each'),
    ...(after === undefined
      ? {}
      : {
          printIrAfter:
            after === 'all' || after === 'changed' ? after : after.split(',').map((x) => x.trim()),
        }),
    dump: (pass, ir) => inv.io.err(`// ----- IR after ${pass} -----\n${ir.trimEnd()}`),
  };
}

/** `--timing`: the pass records on stderr. */
export function reportTiming(inv: Invocation, records: readonly PassRecord[]): void {
  if (flag(inv, 'timing')) inv.io.err(formatTiming(records));
}

/**
 * The model the command line names: the operand, `--set`, `--model` and the pipeline options (with
 * `defaultPasses` when `--passes` is not given). Null after a usage error.
 */
export function modelRequest(inv: Invocation, defaultPasses: string): PrepareRequest | null {
  const entry = onlyOperand(inv, 'model file');
  if (entry === null) return null;
  const settings: Record<string, string> = {};
  for (const s of list(inv, 'set')) {
    const eq = s.indexOf('=');
    if (eq <= 0) {
      usageError(inv.io, inv.command, `--set expects name=value, got '${s}'`);
      return null;
    }
    settings[s.slice(0, eq).trim()] = s.slice(eq + 1).trim();
  }
  const modelName = str(inv, 'model');
  return {
    entry,
    settings,
    limits: parseLimits(list(inv, 'limit')),
    ...(modelName === undefined ? {} : { modelName }),
    ...pipelineOptions(inv, defaultPasses),
  };
}

/**
 * Builds the model named on the command line and runs the pipeline chosen by `--passes` (or
 * `defaultPasses`). Prints the diagnostics and returns null when there is no model. The analysis
 * context the pipeline used comes back with the model, for the command's own analyses.
 */
export function loadModel(
  inv: Invocation,
  defaultPasses = 'none',
): (Elaborated & { readonly context: AnalysisContext }) | null {
  const request = modelRequest(inv, defaultPasses);
  if (request === null) return null;
  const prepared = prepareModel(request, fileHost);
  for (const [path, text] of prepared.sources) inv.sources.set(path, text);
  if (!prepared.model) {
    inv.io.err(renderDiagnostics(prepared.diagnostics, prepared.sources));
    return null;
  }
  reportTiming(inv, prepared.records);
  return { ...prepared.model, context: prepared.context };
}

export type LoadedModel = NonNullable<ReturnType<typeof loadModel>>;

/**
 * The `run` of a command whose whole job is reporting on a model: builds it (exit 1 with the
 * diagnostics printed when there is none), then hands it to `report`.
 */
export function onModel(report: (m: LoadedModel, inv: Invocation) => number): (inv: Invocation) => number {
  return (inv) => {
    const m = loadModel(inv);
    return m ? report(m, inv) : EXIT_USER;
  };
}

/**
 * `--tune-cache <file>`: the choices the cache holds for `adapter` (a key; undefined: the file's
 * only adapter; none when it holds none for that adapter), with a note on stderr saying whose
 * are used, or why none are. Undefined without the option; null (after a usage error) when the
 * file holds several adapters and none is named. A malformed file is E0707 (thrown).
 */
export function loadTuned(inv: Invocation, adapter: string | undefined): TunedChoices | undefined | null {
  const file = str(inv, 'tune-cache');
  if (file === undefined) return undefined;
  const cache = parseTuneCache(readTextOrFail(file), file);
  const keys = Object.keys(cache.entries);
  if (adapter === undefined && keys.length > 1) {
    usageError(
      inv.io,
      inv.command,
      `${file} holds choices for ${keys.length} adapters; name one with --tune-adapter: ${keys.map((k) => `'${k}'`).join(', ')}`,
    );
    return null;
  }
  const tuned = tunedChoices(cache, adapter, file);
  inv.io.err(`note: ${tuned.note}`);
  return tuned;
}
