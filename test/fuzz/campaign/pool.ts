import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { Outcome } from '../targets.js';
import { type GeneratorName, generator } from './generators.js';
import type { Job, WorkerMessage } from './worker.js';

/**
 * The campaign's worker pool: one worker per core, each a child process with a V8 heap limit,
 * running one case at a time under a time-out. A worker past the time-out is killed, its case
 * recorded as a hang and the worker replaced. Each worker's resident memory (V8 heap and typed
 * arrays, which checkpoint and input readers allocate outside it) is sampled every 20 ms: past the
 * cap, the worker is killed and its case recorded as a memory verdict.
 *
 * Why processes and not worker threads: a worker thread's `resourceLimits` stop a heap that grows
 * gradually, but a single allocation past the limit (a list doubled in a compile-time loop) is a
 * fatal V8 out-of-memory error that aborts the whole process, campaign included. A child process
 * dies alone, and its resident size is its own.
 */

export interface CampaignOptions {
  readonly generators: readonly GeneratorName[];
  readonly cases: number;
  readonly seed: number;
  readonly timeoutMs: number;
  readonly workers?: number;
  /** V8 old-generation limit per worker (MiB). */
  readonly heapMb?: number;
  /** Resident memory cap per worker (MiB). */
  readonly rssMb?: number;
  /** Progress callback, every few seconds. */
  readonly progress?: (done: number, total: number) => void;
}

export type Verdict =
  | Outcome
  | { readonly kind: 'hang'; readonly ms: number }
  | { readonly kind: 'memory'; readonly message: string };

export interface CaseRecord {
  readonly generator: GeneratorName;
  readonly index: number;
  readonly seed: number;
  readonly verdict: Verdict;
  readonly ms: number;
  /** The case (failures, hangs and memory only; regenerated from the seed where the worker died). */
  readonly input?: unknown;
  readonly shrunk?: { readonly input: unknown; readonly outcome: Outcome };
}

export interface CampaignResult {
  readonly options: CampaignOptions;
  readonly workers: number;
  readonly wallMs: number;
  /** Every case's verdict and time; inputs only where something went wrong. */
  readonly records: readonly CaseRecord[];
  /** The highest resident size of one worker (sampled every 20 ms), and of the pool's own process. */
  readonly peakWorkerRss: number;
  readonly peakMainRss: number;
  /** The highest heap and array-buffer use a worker reported after a case. */
  readonly peakWorkerHeap: number;
  readonly peakWorkerArrayBuffers: number;
  /** Worker time per generator (ms), for cases per second. */
  readonly busyMs: ReadonlyMap<GeneratorName, number>;
}

/** The seed of case `index`: a hash, so that cases differ and each one is reproducible alone. */
export function caseSeed(seed: number, generatorName: string, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const ch of `${generatorName}:${index}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h | 0;
}

/** The case a seed makes (the worker's fc.check sees the same first value). */
export function regenerate(name: GeneratorName, seed: number, index: number): unknown {
  const g = generator(name);
  return g.pick ? g.pick(index) : fc.sample(g.arbitrary(), { seed, numRuns: 1 })[0];
}

const BOOT = fileURLToPath(new URL('./boot.mjs', import.meta.url));
const ENTRY = new URL('./worker.ts', import.meta.url).href;
const PAGE = 4096;

/** A process's resident size from /proc (Linux); 0 where that is not available. */
function residentBytes(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
  } catch {
    return 0;
  }
}

interface Slot {
  child: ChildProcess;
  job?: { job: Job; started: number; timer: NodeJS.Timeout } | undefined;
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const workers = Math.max(1, options.workers ?? availableParallelism());
  const heapMb = options.heapMb ?? 512;
  const rssCap = (options.rssMb ?? 1024) * 2 ** 20;
  const started = performance.now();
  const records: CaseRecord[] = [];
  const busyMs = new Map<GeneratorName, number>();
  let peakMainRss = process.memoryUsage.rss();
  let peakWorkerRss = 0;
  let peakWorkerHeap = 0;
  let peakWorkerArrayBuffers = 0;

  const jobs: Job[] = [];
  for (let i = 0; i < options.cases; i++) {
    const name = options.generators[i % options.generators.length]!;
    jobs.push({
      type: 'job',
      generator: name,
      index: i,
      seed: caseSeed(options.seed, name, i),
      shrinkMs: 20_000,
    });
  }
  let next = 0;
  let done = 0;
  /** A case's result while its worker may still be shrinking it. */
  const pending = new Map<number, CaseRecord>();

  const finish = (rec: CaseRecord): void => {
    records.push(rec);
    busyMs.set(rec.generator, (busyMs.get(rec.generator) ?? 0) + rec.ms);
    done++;
  };

  return new Promise<CampaignResult>((resolve) => {
    const slots: Slot[] = [];

    const spawn = (): Slot => {
      const child = fork(BOOT, [], {
        execArgv: [`--max-old-space-size=${heapMb}`],
        env: { ...process.env, POLYC_FUZZ_WORKER: ENTRY },
        serialization: 'advanced', // Uint8Array inputs travel as they are
        stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      });
      const slot: Slot = { child };
      child.on('message', (m: WorkerMessage) => onMessage(slot, m));
      child.on('exit', (code, signal) => {
        if (slot.job) onDeath(slot, `worker exited (${signal ?? `code ${code}`}) during the case`);
      });
      return slot;
    };

    const onMessage = (slot: Slot, m: WorkerMessage): void => {
      if (m.type === 'ready') {
        if (slot.job) {
          clearTimeout(slot.job.timer);
          const rec = pending.get(slot.job.job.index);
          pending.delete(slot.job.job.index);
          slot.job = undefined;
          if (rec) finish(rec);
        }
        dispatch(slot);
      } else if (m.type === 'result' && slot.job) {
        peakWorkerHeap = Math.max(peakWorkerHeap, m.heapUsed);
        peakWorkerArrayBuffers = Math.max(peakWorkerArrayBuffers, m.arrayBuffers);
        const { job } = slot.job;
        pending.set(job.index, {
          generator: job.generator,
          index: job.index,
          seed: job.seed,
          verdict: m.outcome,
          ms: m.ms,
          ...(m.input === undefined ? {} : { input: m.input }),
        });
        // A failure is being shrunk: give the shrinking its own time.
        if (m.outcome.kind === 'failure') {
          clearTimeout(slot.job.timer);
          slot.job.timer = setTimeout(() => endCase(slot, null), job.shrinkMs + options.timeoutMs);
        }
      } else if (m.type === 'shrunk' && slot.job) {
        const rec = pending.get(slot.job.job.index);
        if (rec) pending.set(rec.index, { ...rec, shrunk: { input: m.input, outcome: m.outcome } });
      }
    };

    /**
     * Ends the slot's case: with `verdict` (a hang or memory), unless the worker already reported
     * a result (then that result stands: it died shrinking); then kills and replaces the worker.
     */
    const endCase = (slot: Slot, verdict: Verdict | null): void => {
      const current = slot.job;
      if (!current) return;
      clearTimeout(current.timer);
      slot.job = undefined;
      const { job, started: t0 } = current;
      const rec = pending.get(job.index);
      pending.delete(job.index);
      if (rec) finish(rec);
      else if (verdict) {
        finish({
          generator: job.generator,
          index: job.index,
          seed: job.seed,
          verdict,
          ms: performance.now() - t0,
          input: regenerate(job.generator, job.seed, job.index),
        });
      }
      slot.child.removeAllListeners('exit');
      slot.child.kill('SIGKILL');
      const i = slots.indexOf(slot);
      if (i >= 0) slots[i] = spawn();
      // The replacement says 'ready' when it has loaded, and is dispatched then.
    };

    const onDeath = (slot: Slot, message: string): void =>
      endCase(slot, { kind: 'memory', message: `${message}; V8 heap limit ${heapMb} MiB` });

    const dispatch = (slot: Slot): void => {
      if (slot.job || !slots.includes(slot)) return;
      const job = next < jobs.length ? jobs[next++] : undefined;
      if (!job) {
        maybeDone();
        return;
      }
      const timer = setTimeout(
        () => endCase(slot, { kind: 'hang', ms: options.timeoutMs }),
        options.timeoutMs,
      );
      slot.job = { job, started: performance.now(), timer };
      slot.child.send(job);
    };

    const sampler = setInterval(() => {
      peakMainRss = Math.max(peakMainRss, process.memoryUsage.rss());
      for (const slot of slots) {
        const rss = residentBytes(slot.child.pid);
        peakWorkerRss = Math.max(peakWorkerRss, rss);
        if (rss > rssCap && slot.job) {
          endCase(slot, { kind: 'memory', message: `resident memory passed ${rssCap / 2 ** 20} MiB` });
        }
      }
    }, 20);

    const progress = setInterval(() => options.progress?.(done, jobs.length), 5000);

    let resolved = false;
    const maybeDone = (): void => {
      if (resolved || done < jobs.length) return;
      resolved = true;
      clearInterval(sampler);
      clearInterval(progress);
      for (const s of slots) {
        s.child.removeAllListeners('exit');
        s.child.kill('SIGKILL');
      }
      records.sort((a, b) => a.index - b.index);
      resolve({
        options,
        workers,
        wallMs: performance.now() - started,
        records,
        peakWorkerRss,
        peakMainRss,
        peakWorkerHeap,
        peakWorkerArrayBuffers,
        busyMs,
      });
    };

    for (let i = 0; i < Math.min(workers, Math.max(1, jobs.length)); i++) slots.push(spawn());
    if (jobs.length === 0) maybeDone();
  });
}
