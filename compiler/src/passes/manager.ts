import { AnalysisContext } from '../analysis/context.js';
import { printModule } from '../ir/print.js';
import type { Module } from '../ir/types.js';
import { assertVerified } from '../ir/verify.js';
import type { Pass } from './pass.js';

export interface RunOptions {
  /** Verify the module after every pass (on in tests); a failure is an internal error naming the pass. */
  readonly verifyEach?: boolean;
  /** Print the IR after these passes, after every pass ('all') or after those that changed it. */
  readonly printIrAfter?: readonly string[] | 'all' | 'changed';
  /** Called with each IR dump; the CLI prints it. */
  readonly dump?: (passName: string, ir: string) => void;
  /** Called after every pass with its record and the module it returned (the inspector's stages). */
  readonly afterPass?: (record: PassRecord, module: Module) => void;
  readonly context?: AnalysisContext;
}

export interface PassRecord {
  readonly pass: string;
  readonly changed: boolean;
  readonly ms: number;
  readonly ops: number;
}

export interface RunResult {
  readonly module: Module;
  readonly records: readonly PassRecord[];
}

/** Runs `passes` in order. */
export function runPasses(m: Module, passes: readonly Pass[], options: RunOptions = {}): RunResult {
  const ctx = options.context ?? new AnalysisContext();
  const records: PassRecord[] = [];
  let current = m;
  for (const pass of passes) {
    const t0 = performance.now();
    const next = pass.run(current, ctx);
    const ms = performance.now() - t0;
    const changed = next !== current;
    if (options.verifyEach && changed) assertVerified(next, `after pass '${pass.name}'`);
    const record = { pass: pass.name, changed, ms, ops: next.ops.length };
    records.push(record);
    options.afterPass?.(record, next);
    const want = options.printIrAfter;
    if (
      want &&
      options.dump &&
      (want === 'all' || (want === 'changed' ? changed : want.includes(pass.name)))
    ) {
      options.dump(pass.name, printModule(next));
    }
    current = next;
  }
  return { module: current, records };
}

/** `--timing`: one line per pass. */
export function formatTiming(records: readonly PassRecord[]): string {
  const width = Math.max(4, ...records.map((r) => r.pass.length));
  const total = records.reduce((s, r) => s + r.ms, 0);
  const lines = records.map(
    (r) =>
      `  ${r.pass.padEnd(width)}  ${r.ms.toFixed(2).padStart(9)} ms  ${String(r.ops).padStart(6)} ops${r.changed ? '' : '  (unchanged)'}`,
  );
  return [`pass timing:`, ...lines, `  ${'total'.padEnd(width)}  ${total.toFixed(2).padStart(9)} ms`].join(
    '\n',
  );
}
