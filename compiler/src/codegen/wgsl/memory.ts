/**
 * Static memory planning for the activation arena. Each tensor is live from the step that writes it
 * to the last step that reads it; tensors whose lifetimes overlap must not overlap in memory. Placing
 * the largest tensors first at the lowest free offset (TFLite's greedy-by-size) comes close to the
 * lower bound: the most bytes live at any one step.
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

/** Offsets are multiples of this many floats (64 bytes), which keeps copies and vector loads aligned. */
const ALIGN = 16;

const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export function placeTensors(tensors: readonly Interval[]): Placement {
  const placed: { t: Interval; offset: number }[] = [];
  const offsets = new Map<number, number>();
  const order = [...tensors].sort((a, b) => b.size - a.size || a.first - b.first || a.id - b.id);
  for (const t of order) {
    const clashes = placed
      .filter((p) => p.t.first <= t.last && t.first <= p.t.last)
      .sort((a, b) => a.offset - b.offset);
    let offset = 0;
    for (const p of clashes) {
      if (offset + t.size <= p.offset) break;
      offset = Math.max(offset, align(p.offset + p.t.size));
    }
    placed.push({ t, offset });
    offsets.set(t.id, offset);
  }
  const total = placed.reduce((m, p) => Math.max(m, p.offset + p.t.size), 0);
  // The lower bound: the largest total size of tensors live at the same step.
  const events = [...new Set(tensors.flatMap((t) => [t.first, Number.isFinite(t.last) ? t.last : t.first]))];
  let lowerBound = 0;
  for (const step of events) {
    const live = tensors.filter((t) => t.first <= step && step <= t.last).reduce((s, t) => s + t.size, 0);
    lowerBound = Math.max(lowerBound, live);
  }
  return { offsets, total, lowerBound, noReuse: tensors.reduce((s, t) => s + align(t.size), 0) };
}
