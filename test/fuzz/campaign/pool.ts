import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import type { Outcome } from '../targets.js';
import { type GeneratorName, generator } from './generators.js';
import type { Job, WorkerMessage } from './worker.js';

/**
 * The campaign's worker pool: one worker thread per core, each with a V8 heap limit, running one
 * case at a time under a time-out. A worker past the time-out is terminated, its case recorded as
 * a hang and the worker replaced. Memory outside the V8 heap (typed arrays: what checkpoint and
 * input readers allocate) is watched through the process's resident size: past the cap, the busy
 * workers are terminated and their cases run again alone, where the cap names the culprit.
 */

export interface CampaignOptions {
  readonly generators: readonly GeneratorName[];
  readonly cases: number;
  readonly seed: number;
  readonly timeoutMs: number;
  readonly workers?: number;
  /** V8 old-generation limit per worker (MiB). */
  readonly heapMb?: number;
  /** Resident memory cap of the whole process (MiB). */
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
  readonly peakRss: number;
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

const BOOT = new URL('./boot.mjs', import.meta.url);
const ENTRY = new URL('./worker.ts', import.meta.url).href;

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  job?: { job: Job; started: number; timer: NodeJS.Timeout; isolated: boolean } | undefined;
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const workers = Math.max(1, options.workers ?? availableParallelism());
  const heapMb = options.heapMb ?? 512;
  const rssCap = (options.rssMb ?? 1024) * 2 ** 20;
  const started = performance.now();
  const records: CaseRecord[] = [];
  const busyMs = new Map<GeneratorName, number>();
  let peakRss = process.memoryUsage.rss();
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
  /** Cases interrupted by the memory cap, to run again one at a time. */
  const suspects: Job[] = [];
  let next = 0;
  let done = 0;
  const pending = new Map<number, CaseRecord>();

  const finish = (rec: CaseRecord): void => {
    records.push(rec);
    busyMs.set(rec.generator, (busyMs.get(rec.generator) ?? 0) + rec.ms);
    done++;
  };

  return new Promise<CampaignResult>((resolve) => {
    const slots: Slot[] = [];
    let isolating = false;

    const spawn = (): Slot => {
      const worker = new Worker(BOOT, {
        workerData: { entry: ENTRY },
        resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 64 },
        stdout: true,
        stderr: true,
      });
      // The compiler prints nothing; whatever a worker writes is drained, not buffered.
      worker.stdout.resume();
      worker.stderr.resume();
      let markReady: () => void = () => {};
      const slot: Slot = { worker, ready: new Promise((r) => (markReady = r)) };
      worker.on('message', (m: WorkerMessage) => onMessage(slot, m, markReady));
      worker.on('error', (e) => onDeath(slot, `worker died: ${e.message}`));
      worker.on('exit', () => {
        if (slot.job) onDeath(slot, 'worker exited during the case');
      });
      return slot;
    };

    const onMessage = (slot: Slot, m: WorkerMessage, markReady: () => void): void => {
      if (m.type === 'ready') {
        markReady();
        if (slot.job) {
          clearTimeout(slot.job.timer);
          const rec = pending.get(slot.job.job.index);
          if (rec) finish(rec);
          pending.delete(slot.job.job.index);
          slot.job = undefined;
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
          slot.job.timer = setTimeout(() => onShrinkTimeout(slot), job.shrinkMs + options.timeoutMs);
        }
      } else if (m.type === 'shrunk' && slot.job) {
        const rec = pending.get(slot.job.job.index);
        if (rec) pending.set(rec.index, { ...rec, shrunk: { input: m.input, outcome: m.outcome } });
      }
    };

    const replace = (slot: Slot): void => {
      slot.job = undefined;
      void slot.worker.terminate();
      const i = slots.indexOf(slot);
      if (i < 0) return;
      const fresh = spawn();
      slots[i] = fresh;
      void fresh.ready.then(() => dispatch(fresh));
    };

    const onShrinkTimeout = (slot: Slot): void => {
      const job = slot.job?.job;
      if (!job) return;
      const rec = pending.get(job.index);
      if (rec) finish(rec);
      pending.delete(job.index);
      replace(slot);
    };

    const onTimeout = (slot: Slot): void => {
      const job = slot.job?.job;
      if (!job) return;
      finish({
        generator: job.generator,
        index: job.index,
        seed: job.seed,
        verdict: { kind: 'hang', ms: options.timeoutMs },
        ms: options.timeoutMs,
        input: regenerate(job.generator, job.seed, job.index),
      });
      replace(slot);
    };

    const onDeath = (slot: Slot, message: string): void => {
      const job = slot.job?.job;
      if (!job) return;
      clearTimeout(slot.job!.timer);
      const rec = pending.get(job.index);
      pending.delete(job.index);
      if (rec) finish(rec);
      else {
        finish({
          generator: job.generator,
          index: job.index,
          seed: job.seed,
          verdict: { kind: 'memory', message },
          ms: performance.now() - slot.job!.started,
          input: regenerate(job.generator, job.seed, job.index),
        });
      }
      replace(slot);
    };

    const dispatch = (slot: Slot): void => {
      if (slot.job || !slots.includes(slot)) return;
      let job: Job | undefined;
      let isolated = false;
      if (next < jobs.length && !isolating) job = jobs[next++];
      else if (suspects.length > 0 && slots.every((s) => s === slot || !s.job)) {
        // Everything else has finished: the suspects run alone, so the cap names the culprit.
        isolating = true;
        job = suspects.shift();
        isolated = true;
      }
      if (!job) {
        maybeDone();
        return;
      }
      const timer = setTimeout(() => onTimeout(slot), options.timeoutMs);
      slot.job = { job, started: performance.now(), timer, isolated };
      slot.worker.postMessage(job);
    };

    /** After terminating workers, memory takes a moment to return: no verdicts until then. */
    let coolUntil = 0;
    const sampler = setInterval(() => {
      const rss = process.memoryUsage.rss();
      peakRss = Math.max(peakRss, rss);
      if (rss <= rssCap || performance.now() < coolUntil) return;
      coolUntil = performance.now() + 1000;
      for (const slot of slots) {
        if (!slot.job) continue;
        clearTimeout(slot.job.timer);
        const { job, isolated, started } = slot.job;
        if (isolated) {
          finish({
            generator: job.generator,
            index: job.index,
            seed: job.seed,
            verdict: { kind: 'memory', message: `resident memory passed ${rssCap / 2 ** 20} MiB` },
            ms: performance.now() - started,
            input: regenerate(job.generator, job.seed, job.index),
          });
        } else suspects.push(job);
        pending.delete(job.index);
        replace(slot);
      }
    }, 20);

    const progress = setInterval(() => options.progress?.(done, jobs.length), 5000);

    let resolved = false;
    const maybeDone = (): void => {
      if (resolved || done < jobs.length) return;
      resolved = true;
      clearInterval(sampler);
      clearInterval(progress);
      for (const s of slots) void s.worker.terminate();
      records.sort((a, b) => a.index - b.index);
      resolve({
        options,
        workers,
        wallMs: performance.now() - started,
        records,
        peakRss,
        peakWorkerHeap,
        peakWorkerArrayBuffers,
        busyMs,
      });
    };

    for (let i = 0; i < Math.min(workers, Math.max(1, jobs.length)); i++) slots.push(spawn());
    if (jobs.length === 0) maybeDone();
  });
}
