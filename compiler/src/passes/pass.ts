import type { Module } from '../ir/types.js';

/**
 * Passes and analyses, MLIR style. A pass maps a module to a new module (modules are immutable
 * values, so a pass never edits its input); an analysis computes facts about a module and is
 * cached by module identity, which can never go stale because modules never change.
 */

export interface Pass {
  /** Stable, kebab-case: used in `--passes=` pipelines, `--print-ir-after=` and docs. */
  readonly name: string;
  /** One line, shown by `polyc passes` and in docs/passes.md. */
  readonly summary: string;
  run(m: Module, ctx: PassContext): Module;
}

export interface Analysis<T> {
  readonly name: string;
  readonly summary: string;
  compute(m: Module, ctx: PassContext): T;
}

export class PassContext {
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
