import { CodedError } from '../device.js';

/**
 * Errors of a generated model package (besides the runtime's `RuntimeError` for WebGPU failures).
 */

export type ModelErrorCode =
  /** `run` got a bad input: not a Float32Array, wrong length, bad batch, non-finite values. */
  | 'bad-input'
  /** The weights could not be loaded, or their length or SHA-256 checksum is wrong. */
  | 'bad-weights'
  /** `Model.create` got an unknown option value (e.g. `backend: 'tpu'`). */
  | 'bad-options'
  /** Loading the weights was aborted through `Model.create`'s `signal` (e.g. a time-out). */
  | 'aborted'
  /** `run` on a model after its `destroy()`. */
  | 'destroyed';

/**
 * A bad input to run/preprocess, bad weights (length, checksum, unreadable), a bad option, an
 * aborted load, or a run after destroy().
 */
export class ModelError extends CodedError<ModelErrorCode> {
  override readonly name = 'ModelError';
}
