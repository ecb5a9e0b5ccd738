import { CodedError } from '../device.js';

/**
 * Errors of a generated model package (besides the runtime's `RuntimeError` for WebGPU failures).
 */

export type ModelErrorCode =
  /** `run` got a bad input: not a Float32Array, wrong length, bad batch, non-finite values. */
  | 'bad-input'
  /** The weights could not be loaded, or their length or SHA-256 checksum is wrong. */
  | 'bad-weights'
  /** The weights URL answered with an HTTP error status (404, 500, ...): the file is not served there. */
  | 'weights-not-served'
  /** The weights URL answered with an HTML page (a dev server's or static host's fallback page). */
  | 'weights-html'
  /** The weights could not be fetched: no connection, refused by CORS, or the download stalled. */
  | 'weights-unreachable'
  /** `Model.create` got an unknown option value (e.g. `backend: 'tpu'`). */
  | 'bad-options'
  /** Not an image, or an image source this platform cannot read (e.g. a Blob or an `<img>` in Node). */
  | 'unsupported-image'
  /** An image that cannot be decoded or read: a broken or unloaded `<img>`, an undecodable Blob, a tainted canvas. */
  | 'bad-image'
  /** Fetching an image URL failed (a network error or an HTTP error status); the message names the URL. */
  | 'image-fetch-failed'
  /** Loading the weights was aborted through `Model.create`'s `signal` (e.g. a time-out). */
  | 'aborted'
  /** `run` on a model after its `destroy()`. */
  | 'destroyed';

/**
 * A bad input to run/preprocess, an unreadable image, bad or unserved weights (length, checksum,
 * unreadable, HTTP), a bad option, an aborted load, or a run after destroy().
 */
export class ModelError extends CodedError<ModelErrorCode> {
  override readonly name = 'ModelError';
}
