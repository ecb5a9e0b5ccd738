import type { Module } from '../ir/types.js';

/**
 * Analyses, MLIR style: an analysis computes facts about a module, and the context caches them by
 * module identity, which can never go stale because modules are immutable values. The driver makes
 * one context per compile and hands it to the passes, the planners and codegen, so a fact (constness,
 * liveness, degree) is computed once per module whoever asks for it.
 */

export interface Analysis<T> {
  /** Stable, kebab-case: the cache key. */
  readonly name: string;
  readonly summary: string;
  compute(m: Module, ctx: AnalysisContext): T;
}

export class AnalysisContext {
  private readonly cache = new WeakMap<Module, Map<string, unknown>>();

  /** The analysis result for `m`, computed at most once per module. */
  get<T>(analysis: Analysis<T>, m: Module): T {
    let forModule = this.cache.get(m);
    if (!forModule) {
      forModule = new Map();
      this.cache.set(m, forModule);
    }
    if (!forModule.has(analysis.name)) forModule.set(analysis.name, analysis.compute(m, this));
    return forModule.get(analysis.name) as T;
  }
}
