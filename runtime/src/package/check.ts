import { ModelError } from './errors.js';

/**
 * Checks `run`'s input and returns the batch: `batch` when given, else the number of whole images
 * in `input`. Throws `ModelError('bad-input')` with a message that names the expected size.
 */
export function checkInput(
  input: unknown,
  batch: unknown,
  shape: readonly number[],
  maxBatch: number,
): number {
  const perImage = shape.reduce((a, b) => a * b, 1);
  const dims = `[${shape.join(', ')}]`;
  if (!(input instanceof Float32Array)) {
    const got =
      input === null
        ? 'null'
        : typeof input === 'object'
          ? (input.constructor?.name ?? 'object')
          : typeof input;
    throw new ModelError('bad-input', `input must be a Float32Array (NCHW, ${dims} per image), got ${got}`);
  }
  let n: number;
  if (batch === undefined) {
    if (input.length === 0 || input.length % perImage !== 0) {
      throw new ModelError(
        'bad-input',
        `input has ${input.length} floats, which is not a whole number of images of ${dims} ` +
          `(${perImage} floats each)`,
      );
    }
    n = input.length / perImage;
  } else {
    if (typeof batch !== 'number' || !Number.isInteger(batch)) {
      throw new ModelError('bad-input', `batch must be an integer, got ${String(batch)}`);
    }
    n = batch;
  }
  if (n < 1 || n > maxBatch) {
    throw new ModelError(
      'bad-input',
      `batch ${n} is out of range: this model was compiled for batches of 1 to ${maxBatch} ` +
        '(polyc compile --max-batch)',
    );
  }
  if (input.length !== n * perImage) {
    throw new ModelError(
      'bad-input',
      `input has ${input.length} floats; batch ${n} of ${dims} needs ${n * perImage} (${perImage} per image)`,
    );
  }
  for (let i = 0; i < input.length; i++) {
    if (!Number.isFinite(input[i])) {
      throw new ModelError('bad-input', `input[${i}] is ${input[i]}, not a finite number`);
    }
  }
  return n;
}

/** One of an image's top classes. */
export interface Prediction {
  /** Class index. */
  readonly index: number;
  /** The class's name (the package's `LABELS`), or null when the package has no labels. */
  readonly label: string | null;
  /** Its logit. */
  readonly logit: number;
  /** Its probability: the softmax over the image's logits. */
  readonly prob: number;
  /** The logit again, as `topk` returned it before `logit` and `prob` (kept for compatibility). */
  readonly value: number;
}

/**
 * The `k` largest logits of each image, largest first (ties: lower index first), with their labels
 * (`labels[index]`, when given) and softmax probabilities.
 */
export function topkRows(
  logits: Float32Array,
  classes: number,
  k: number,
  labels: readonly string[] | null = null,
): Prediction[][] {
  if (!(logits instanceof Float32Array) || logits.length % classes !== 0) {
    throw new ModelError(
      'bad-input',
      `logits must be a Float32Array of batch x ${classes} values, got ${
        logits instanceof Float32Array ? `${logits.length} values` : typeof logits
      }`,
    );
  }
  if (!Number.isInteger(k) || k < 1)
    throw new ModelError('bad-input', `k must be a positive integer, got ${k}`);
  const rows = logits.length / classes;
  return Array.from({ length: rows }, (_, b) => {
    const row = logits.subarray(b * classes, (b + 1) * classes);
    // Softmax with the row's largest logit subtracted: exp never overflows, and the sum is >= 1.
    let max = Number.NEGATIVE_INFINITY;
    for (const x of row) max = Math.max(max, x);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    const order = Array.from(row.keys()).sort((x, y) => row[y]! - row[x]! || x - y);
    return order.slice(0, Math.min(k, classes)).map((index) => {
      const logit = row[index]!;
      return {
        index,
        label: labels?.[index] ?? null,
        logit,
        prob: Math.exp(logit - max) / sum,
        value: logit,
      };
    });
  });
}
