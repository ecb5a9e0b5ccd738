import fc from 'fast-check';
import type { Outcome } from '../targets.js';
import { type GeneratorName, generator } from './generators.js';

/**
 * One campaign worker (a child process of the pool): receives (generator, case seed) jobs one at a time, generates the case,
 * runs it and answers with the outcome, the time and its own memory. A failing case is reported
 * at once, then shrunk by fast-check (the shrunk case follows in a second message), so that a
 * shrink step that hangs loses only the shrinking. The pool enforces time and memory from outside.
 */

export interface Job {
  readonly type: 'job';
  readonly generator: GeneratorName;
  readonly index: number;
  readonly seed: number;
  /** How long shrinking a failure may take. */
  readonly shrinkMs: number;
}

export type WorkerMessage =
  | { readonly type: 'ready' }
  | {
      readonly type: 'result';
      readonly index: number;
      readonly outcome: Outcome;
      readonly ms: number;
      readonly heapUsed: number;
      readonly arrayBuffers: number;
      /** The case itself, only for failures (it can be large). */
      readonly input?: unknown;
    }
  | { readonly type: 'shrunk'; readonly index: number; readonly input: unknown; readonly outcome: Outcome };

const post = (m: WorkerMessage): void => {
  process.send!(m);
};
// The pool gone, nothing is left to do.
process.on('disconnect', () => process.exit(0));

/** A case's result with the worker's memory after it (and the input when it failed). */
function postResult(index: number, input: unknown, outcome: Outcome, ms: number): void {
  const mem = process.memoryUsage();
  post({
    type: 'result',
    index,
    outcome,
    ms,
    heapUsed: mem.heapUsed,
    arrayBuffers: mem.arrayBuffers,
    ...(outcome.kind === 'failure' ? { input } : {}),
  });
}

process.on('message', (job: Job) => {
  const g = generator(job.generator);
  if (g.pick) {
    const input = g.pick(job.index);
    const t0 = performance.now();
    const outcome = g.run(input);
    postResult(job.index, input, outcome, performance.now() - t0);
    post({ type: 'ready' });
    return;
  }
  const arbitrary = g.arbitrary();
  let first = true;
  let shrunk: { input: unknown; outcome: Outcome } | undefined;
  // fc.check with numRuns 1 runs exactly the case fc.sample(arbitrary, {seed}) gives (the pool
  // regenerates it that way to write a reproducer), and shrinks it when it fails.
  fc.check(
    fc.property(arbitrary, (input) => {
      const t0 = performance.now();
      const outcome = g.run(input);
      const ms = performance.now() - t0;
      const failed = outcome.kind === 'failure';
      if (first) {
        first = false;
        postResult(job.index, input, outcome, ms);
      } else if (failed) shrunk = { input, outcome };
      return !failed;
    }),
    { seed: job.seed, numRuns: 1, interruptAfterTimeLimit: job.shrinkMs },
  );
  if (shrunk) post({ type: 'shrunk', index: job.index, ...shrunk });
  post({ type: 'ready' });
});

post({ type: 'ready' });
