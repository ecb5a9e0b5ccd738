import type { AnalysisContext } from '../analysis/context.js';
import type { Module } from '../ir/types.js';

/**
 * A pass maps a module to a new module (modules are immutable values, so a pass never edits its
 * input), or returns the same object when it changed nothing. Passes read facts about a module
 * through the analysis context (analysis/context.ts), which they share with the rest of a compile.
 */
export interface Pass {
  /** Stable, kebab-case: used in `--passes=` pipelines, `--print-ir-after=` and docs. */
  readonly name: string;
  /** One line, shown by `polyc passes` and in docs/passes.md. */
  readonly summary: string;
  run(m: Module, ctx: AnalysisContext): Module;
}
