/**
 * Liveness and static memory planning for an activation arena, shared by every executor (the
 * module-level liveness analysis, the WebGPU plan, the CPU backend). Each executor runs a schedule
 * of steps that write one value and read others; what a step is differs (a WebGPU kernel reads views
 * through and runs a fused region as one step, the CPU backend runs each region op as a loop nest),
 * so each hands its own schedule to `planArena`; the lifetimes and the placement are computed here
 * only.
 *
 * A value is live from the step that writes it to the last step that reads it; values whose
 * lifetimes overlap must not overlap in memory. Placing the largest values first at the lowest free
 * offset (TFLite's greedy-by-size) comes close to the lower bound: the most bytes live at any one
 * step.
 */

export interface Interval {
  readonly id: number;
  /** Floats. */
  readonly size: number;
  /** Step that writes it (-1 for model inputs). */
  readonly first: number;
  /** Last step that reads it (Infinity for model outputs). */
  readonly last: number;
}

export interface Placement {
  readonly offsets: ReadonlyMap<number, number>;
  readonly total: number;
  readonly lowerBound: number;
  readonly noReuse: number;
}

export interface ScheduleStep {
  readonly writes: number;
  /** The arena values it reads (not weights or literals); repeats are fine. */
  readonly reads: Iterable<number>;
}

export interface Schedule {
  /** Values in the arena before the first step (model inputs). */
  readonly inputs: readonly number[];
  /** In execution order. */
  readonly steps: readonly ScheduleStep[];
  /** Values read after the last step (model outputs): live to the end. */
  readonly outputs: readonly number[];
  /** Floats a value takes in the arena. */
  readonly size: (id: number) => number;
}

/** The lifetime of every value of a schedule, in steps (a value never read dies where it is born). */
export function lifetimes(s: Schedule): Interval[] {
  const first = new Map<number, number>(s.inputs.map((id) => [id, -1]));
  const last = new Map<number, number>();
  s.steps.forEach((step, i) => {
    first.set(step.writes, i);
    for (const x of step.reads) last.set(x, i);
  });
  for (const id of s.outputs) last.set(id, Number.POSITIVE_INFINITY);
  return [...first].map(([id, born]) => ({ id, size: s.size(id), first: born, last: last.get(id) ?? born }));
}

/** Lifetimes and placement of a schedule's values. */
export function planArena(s: Schedule): Placement {
  return placeTensors(lifetimes(s));
}

/** Offsets are multiples of this many floats (64 bytes), which keeps copies and vector loads aligned. */
const ALIGN = 16;

const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export function placeTensors(tensors: readonly Interval[]): Placement {
  // Placed values by increasing offset, so the first gap that fits is found in one scan.
  const placed: { t: Interval; offset: number }[] = [];
  const offsets = new Map<number, number>();
  const order = [...tensors].sort((a, b) => b.size - a.size || a.first - b.first || a.id - b.id);
  for (const t of order) {
    let offset = 0;
    for (const p of placed) {
      if (!(p.t.first <= t.last && t.first <= p.t.last)) continue;
      if (offset + t.size <= p.offset) break;
      offset = Math.max(offset, align(p.offset + p.t.size));
    }
    let at = placed.length;
    while (at > 0 && placed[at - 1]!.offset > offset) at--;
    placed.splice(at, 0, { t, offset });
    offsets.set(t.id, offset);
  }
  const total = placed.reduce((m, p) => Math.max(m, p.offset + p.t.size), 0);
  return {
    offsets,
    total,
    lowerBound: peakLive(tensors),
    noReuse: tensors.reduce((s, t) => s + align(t.size), 0),
  };
}

/** The lower bound of any placement: the largest total size of values live at the same step. */
export function peakLive(tensors: readonly Interval[]): number {
  // A value adds its size at its first step and frees it after its last; at one step, frees come first.
  const events: [step: number, delta: number][] = [];
  for (const t of tensors) {
    events.push([t.first, t.size]);
    if (Number.isFinite(t.last)) events.push([t.last + 1, -t.size]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let live = 0;
  let peak = 0;
  for (const [, delta] of events) {
    live += delta;
    peak = Math.max(peak, live);
  }
  return peak;
}
