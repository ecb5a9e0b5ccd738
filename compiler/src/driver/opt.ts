import { DiagnosticError } from '../diagnostics/diagnostic.js';
import { printModule } from '../ir/print.js';
import { readModule } from '../ir/read.js';
import type { Module } from '../ir/types.js';
import { verifyModule } from '../ir/verify.js';
import { type PassRecord, runPasses } from '../passes/manager.js';
import { parsePipeline } from '../passes/pipeline.js';

export interface OptOptions {
  /** A textual pipeline (`fold-batchnorm,dce`, `default`, `none`). */
  readonly passes: string;
  /** Print `loc(...)` and `scope` (default true); false gives the compact form pass tests check. */
  readonly locations?: boolean;
  readonly verifyEach?: boolean;
  readonly printIrAfter?: readonly string[] | 'all' | 'changed';
  readonly dump?: (passName: string, ir: string) => void;
}

export interface OptResult {
  readonly input: Module;
  readonly module: Module;
  readonly text: string;
  readonly records: readonly PassRecord[];
}

/**
 * `polyc opt`: textual IR in, a pass pipeline over it, textual IR out. The input must read
 * (E0801) and verify (E0802, every problem reported) before any pass runs.
 */
export function optimizeText(source: string, fileName: string, options: OptOptions): OptResult {
  const input = readModule(source, fileName);
  const problems = verifyModule(input);
  if (problems.length > 0) throw new DiagnosticError(problems);
  const { module, records } = runPasses(input, parsePipeline(options.passes), {
    ...(options.verifyEach === undefined ? {} : { verifyEach: options.verifyEach }),
    ...(options.printIrAfter === undefined ? {} : { printIrAfter: options.printIrAfter }),
    ...(options.dump === undefined ? {} : { dump: options.dump }),
  });
  return {
    input,
    module,
    text: printModule(module, { locations: options.locations ?? true }),
    records,
  };
}
