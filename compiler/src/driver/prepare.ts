import { AnalysisContext } from '../analysis/context.js';
import { type Diagnostic, DiagnosticError } from '../diagnostics/diagnostic.js';
import type { Elaborated, Settings } from '../frontend/elaborate.js';
import type { Limits } from '../frontend/limits.js';
import { type PassRecord, type RunOptions, runPasses } from '../passes/manager.js';
import type { Pass } from '../passes/pass.js';
import { parsePipeline } from '../passes/pipeline.js';
import { buildModel, type SourceHost } from './frontend.js';

/**
 * What to build and which passes to run over it (the model options of the command line); the
 * inherited options (`verifyEach`, `printIrAfter`, `dump`) go to the pass manager as they are.
 */
export interface PrepareRequest extends RunOptions {
  /** The .poly file; its imports are read through the host too. */
  readonly entry: string;
  readonly settings?: Settings;
  /** The model to build when the file declares several. */
  readonly modelName?: string;
  /** A textual pipeline (`fold-batchnorm,dce`, `default`, `none`). */
  readonly passes: string;
  /** `--limit` overrides applied to the defaults (frontend/limits.ts). */
  readonly limits?: Limits;
}

export interface Prepared {
  /** The model with its module after the pipeline; null when there are diagnostics. */
  readonly model: Elaborated | null;
  readonly diagnostics: readonly Diagnostic[];
  /** Every source text read, by path, for rendering diagnostics (also ones raised later). */
  readonly sources: ReadonlyMap<string, string>;
  /** One record per pass run, for `--timing`. */
  readonly records: readonly PassRecord[];
  /** The analyses computed so far, for the command's own work on the module (one per model). */
  readonly context: AnalysisContext;
}

/**
 * Builds a model from source files and runs a pass pipeline over it: what every model-building
 * command does before its own work. Pure apart from `host.readFile` and `request.dump`; user
 * errors come back as diagnostics, a pass that breaks the IR throws an internal error.
 */
export function prepareModel(request: PrepareRequest, host: SourceHost): Prepared {
  const context = request.context ?? new AnalysisContext();
  // The pipeline is checked first: a misspelt pass name should not wait for a large model to build.
  let passes: Pass[];
  try {
    passes = parsePipeline(request.passes);
  } catch (e) {
    if (!(e instanceof DiagnosticError)) throw e;
    return { model: null, diagnostics: e.diagnostics, sources: new Map(), records: [], context };
  }
  const built = buildModel(request.entry, host, request.settings, request.modelName, request.limits);
  if (!built.model) return { ...built, records: [], context };
  const { module, records } = runPasses(built.model.module, passes, { ...request, context });
  return { model: { ...built.model, module }, diagnostics: [], sources: built.sources, records, context };
}
