/**
 * Errors of a generated model package (besides the runtime's `RuntimeError` for WebGPU failures).
 * Browser-safe: no Node imports (this directory is bundled into the package's `runtime.js`).
 */

export type ModelErrorCode =
  /** `run` got a bad input: not a Float32Array, wrong length, bad batch, non-finite values. */
  | 'bad-input'
  /** The weights could not be loaded, or their length or SHA-256 checksum is wrong. */
  | 'bad-weights'
  /** `Model.create` got an unknown option value (e.g. `backend: 'tpu'`). */
  | 'bad-options';

export class ModelError extends Error {
  override readonly name = 'ModelError';
  constructor(
    readonly code: ModelErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
