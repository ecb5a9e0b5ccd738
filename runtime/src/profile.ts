/**
 * Profiles of one inference as plain data: the engine (engine.ts) times every step, and
 * `summarizeProfile` joins those times with what each step computes (FLOPs, bytes) and adds them
 * up per kernel and per kernel kind. Formatting is left to callers (the CLI, the benchmarks).
 */

export interface ProfileOptions {
  /** Timings per step; each step's time is the median. Default 3. */
  readonly repeats?: number;
  /**
   * 'auto' (default): GPU timestamps when the device has 'timestamp-query' (create the model with
   * `profiling: true` to request it), else 'submit'. 'submit': each step encoded, submitted and
   * awaited (`onSubmittedWorkDone`) alone, timed on the host; includes the submit's overhead.
   */
  readonly timing?: 'auto' | 'submit';
}

/** The time of a whole program's dispatches, once per repeat (`GpuEngine.time`). */
export interface ProgramTimes {
  readonly timing: ProfileTiming;
  /** Milliseconds per repeat. */
  readonly ms: readonly number[];
}

/** How step times were measured. */
export type ProfileTiming = 'timestamp-query' | 'submit';

/** One step's time, as the engine measures it. */
export interface StepTime {
  readonly step: number;
  readonly label: string;
  /** The kernel's (shader's) name. */
  readonly kernel: string;
  /** Median milliseconds over the repeats; 0 for a step with no work. */
  readonly ms: number;
  /** False for a step with no work: it is never dispatched. */
  readonly dispatched: boolean;
}

/** Every step's time, from `GpuEngine.profile`. */
export interface StepTimes {
  readonly timing: ProfileTiming;
  readonly repeats: number;
  readonly batch: number;
  readonly adapterInfo: string;
  /** One entry per step of the program, in order. */
  readonly steps: readonly StepTime[];
}

/** What a step computes at the profiled batch, for throughput. */
export interface StepWork {
  /** Groups steps into kernels (a pipeline cache key); default the kernel's name. */
  readonly key?: string;
  /** The kernel's name; the engine cannot tell it for a step with no work (never dispatched). */
  readonly name?: string;
  readonly flops: number;
  /** Bytes of activations read and written (weights not counted). */
  readonly bytes: number;
}

export interface ProfiledStep extends StepTime {
  readonly key: string;
  readonly kind: string;
  readonly flops: number;
  readonly bytes: number;
}

/** Totals over a set of steps (one kernel, one kind). */
export interface ProfileTotals {
  /** Steps with work. */
  readonly calls: number;
  readonly ms: number;
  /** Fraction of the profile's total time. */
  readonly share: number;
  readonly flops: number;
  readonly bytes: number;
  /** Achieved throughput (0 when no time was measured). */
  readonly gflopsPerSecond: number;
  readonly gbPerSecond: number;
}

export interface KernelProfile extends ProfileTotals {
  readonly key: string;
  readonly name: string;
  readonly kind: string;
}

export interface KindProfile extends ProfileTotals {
  readonly kind: string;
  /** Distinct kernels of this kind. */
  readonly kernels: number;
}

export interface Profile extends ProfileTotals {
  readonly timing: ProfileTiming;
  readonly repeats: number;
  readonly batch: number;
  readonly adapterInfo: string;
  readonly steps: readonly ProfiledStep[];
  /** Slowest first. */
  readonly kernels: readonly KernelProfile[];
  /** Slowest first; their `ms` add up to the total. */
  readonly kinds: readonly KindProfile[];
}

/**
 * A kernel's kind from its name: polyc names kernels `<kind>_<shape>` (`gemm_96x192_56x56`,
 * `channel_bn_16x64x64`), so the kind is everything before the first `_<digit>`.
 */
export function kernelKind(name: string): string {
  return /^(.*?)_\d/.exec(name)?.[1] ?? name;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function totals(steps: readonly ProfiledStep[], totalMs: number): ProfileTotals {
  let ms = 0;
  let flops = 0;
  let bytes = 0;
  let calls = 0;
  for (const s of steps) {
    ms += s.ms;
    flops += s.flops;
    bytes += s.bytes;
    if (s.dispatched) calls++;
  }
  return {
    calls,
    ms,
    share: totalMs > 0 ? ms / totalMs : 0,
    flops,
    bytes,
    gflopsPerSecond: ms > 0 ? flops / ms / 1e6 : 0,
    gbPerSecond: ms > 0 ? bytes / ms / 1e6 : 0,
  };
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const t of items) {
    const k = key(t);
    const list = out.get(k);
    if (list) list.push(t);
    else out.set(k, [t]);
  }
  return out;
}

/** Joins step times with each step's work (`work[i]` for step i) and totals them per kernel and kind. */
export function summarizeProfile(times: StepTimes, work: readonly StepWork[]): Profile {
  const steps: ProfiledStep[] = times.steps.map((t) => {
    const w = work[t.step];
    const kernel = w?.name ?? t.kernel;
    return {
      ...t,
      kernel,
      key: w?.key ?? kernel,
      kind: kernelKind(kernel),
      flops: w?.flops ?? 0,
      bytes: w?.bytes ?? 0,
    };
  });
  const totalMs = steps.reduce((n, s) => n + s.ms, 0);
  const kernels: KernelProfile[] = [...groupBy(steps, (s) => s.key)].map(([key, list]) => ({
    key,
    name: list[0]!.kernel,
    kind: list[0]!.kind,
    ...totals(list, totalMs),
  }));
  const kinds: KindProfile[] = [...groupBy(steps, (s) => s.kind)].map(([kind, list]) => ({
    kind,
    kernels: new Set(list.map((s) => s.key)).size,
    ...totals(list, totalMs),
  }));
  const slowest = (a: ProfileTotals, b: ProfileTotals) => b.ms - a.ms;
  return {
    timing: times.timing,
    repeats: times.repeats,
    batch: times.batch,
    adapterInfo: times.adapterInfo,
    ...totals(steps, totalMs),
    steps,
    kernels: kernels.sort(slowest),
    kinds: kinds.sort(slowest),
  };
}
