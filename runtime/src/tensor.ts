/**
 * The runtime's tensor and result helpers. Browser-safe: no Node imports anywhere under runtime/
 * (a test checks), and no dependency on the compiler.
 */

export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface Scored {
  readonly index: number;
  readonly value: number;
}

/** The k largest entries of each row of an [N, classes] tensor, largest first (ties: lower index). */
export function topk(t: Tensor, k: number): Scored[][] {
  const n = t.shape[0] ?? 1;
  const c = t.shape[t.shape.length - 1] ?? t.data.length;
  return Array.from({ length: n }, (_, b) => {
    const row = Array.from(t.data.subarray(b * c, (b + 1) * c), (value, index) => ({ index, value }));
    return row.sort((x, y) => y.value - x.value || x.index - y.index).slice(0, k);
  });
}
