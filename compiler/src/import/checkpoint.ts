import { DiagnosticError, error, fail, note } from '../diagnostics/diagnostic.js';
import { PickleGlobal, type PickleValue, StorageRef, TensorRef } from './pickle.js';
import { indexSafetensors } from './safetensors.js';
import { type Checkpoint, loadAll, numelOf, type StateDict } from './tensor.js';
import { openTorchZip } from './torch-zip.js';

export type { Checkpoint, Dtype, StateDict, Tensor, TensorInfo } from './tensor.js';

/**
 * Entry point for checkpoints as users have them: a torch.save zip or a safetensors file, with the
 * state dict possibly wrapped (training checkpoints) and its keys possibly prefixed by DataParallel.
 */

/** Where training scripts put the weights, in the order they are tried. */
const CONTAINER_KEYS = ['state_dict', 'model', 'state_dict_ema', 'model_ema', 'ema'] as const;

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04]; // "PK\x03\x04"

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return magic.every((b, i) => bytes[i] === b);
}

/** An 8-byte header length whose high half is zero, then a JSON object. */
function looksLikeSafetensors(bytes: Uint8Array): boolean {
  return bytes.length >= 9 && bytes[8] === 0x7b && bytes.subarray(4, 8).every((b) => b === 0);
}

function hexPrefix(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Opens a checkpoint: its tensors' keys, dtypes and shapes from the headers (and the pickle), with
 * no tensor data read. The format is chosen by content; `fileName` labels every message, including
 * those of `load`. Throws DiagnosticError (E0601-E0606, E0608).
 */
export function openCheckpoint(bytes: Uint8Array, fileName: string): Checkpoint {
  const ck = naming(fileName, () => stripModulePrefix(openAnyFormat(bytes)));
  return { tensors: ck.tensors, load: (keys) => naming(fileName, () => ck.load(keys)) };
}

/**
 * Without a model to bound it, `readCheckpoint` reads at most this many float32 bytes per byte of
 * file (plus a little): f16 doubling is within it, views repeating a storage thousands of times not.
 */
const MAX_READ_PER_FILE_BYTE = 4;
const READ_SLACK = 16 << 20;

/**
 * Reads a whole checkpoint: every tensor, float types converted to float32. Loading a model goes
 * through `openCheckpoint` and `matchCheckpoint` instead, which read only the tensors it needs;
 * here, with no model, the total is bounded by the file's size (E0606 beyond it).
 */
export function readCheckpoint(bytes: Uint8Array, fileName: string): StateDict {
  const ck = openCheckpoint(bytes, fileName);
  let total = 0;
  for (const t of ck.tensors.values()) total += numelOf(t.shape) * 4;
  const limit = bytes.length * MAX_READ_PER_FILE_BYTE + READ_SLACK;
  if (total > limit) {
    fail(
      'E0606',
      `${fileName}: its tensors hold ${total} bytes as float32, more than ${MAX_READ_PER_FILE_BYTE}x the file's ${bytes.length} ` +
        '(views repeating a storage?); load it against a model, which reads only the tensors it needs',
    );
  }
  return loadAll(ck);
}

/** Runs `read`, saying which file every diagnostic it throws is about (the readers do not know). */
function naming<T>(fileName: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof DiagnosticError)) throw e;
    throw new DiagnosticError(e.diagnostics.map((d) => ({ ...d, message: `${fileName}: ${d.message}` })));
  }
}

function openAnyFormat(bytes: Uint8Array): Checkpoint {
  if (startsWith(bytes, ZIP_MAGIC)) {
    const archive = openTorchZip(bytes);
    return archive.checkpoint(findStateDict(archive.root));
  }
  if (looksLikeSafetensors(bytes)) return indexSafetensors(bytes);
  if (bytes[0] === 0x80) {
    return fail(
      'E0601',
      'this is a bare pickle, as written by torch.save before PyTorch 1.6 (or with ' +
        '_use_new_zipfile_serialization=False); re-save it with a current PyTorch, or convert it to safetensors',
    );
  }
  return fail(
    'E0601',
    'not a checkpoint: expected a torch.save zip (starting with "PK\\x03\\x04") or a safetensors file ' +
      `(8-byte header length, then a JSON header starting with "{"), but the file starts with ${hexPrefix(bytes)}`,
  );
}

/** The value as a state dict (a non-empty dict from string keys to tensors), or null. */
function asStateDict(v: PickleValue | undefined): Map<string, TensorRef> | null {
  if (!(v instanceof Map) || v.size === 0) return null;
  for (const [k, t] of v) if (typeof k !== 'string' || !(t instanceof TensorRef)) return null;
  return v as Map<string, TensorRef>;
}

/** A few words on what a pickled value is, for the E0605 notes. */
function describe(v: PickleValue): string {
  if (v === null) return 'None';
  if (v instanceof TensorRef) return `a tensor [${v.shape.join(', ')}]`;
  if (v instanceof Map) {
    let tensors = 0;
    for (const x of v.values()) if (x instanceof TensorRef) tensors++;
    return `a dict of ${v.size} entries, ${tensors} of them tensors`;
  }
  if (Array.isArray(v)) return `a list/tuple of ${v.length} items`;
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PickleGlobal) return v.qualifiedName;
  if (v instanceof StorageRef) return 'a storage';
  return typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 40))}` : String(v);
}

function findStateDict(root: PickleValue): Map<string, TensorRef> {
  const top = asStateDict(root);
  if (top !== null) return top;
  if (root instanceof Map) {
    for (const key of CONTAINER_KEYS) {
      const sd = asStateDict(root.get(key));
      if (sd !== null) return sd;
    }
    const keys = [...root.keys()].map((k) => (typeof k === 'string' ? k : describe(k)));
    return fail(
      'E0605',
      `no state dict found: expected a dict of tensors at the top level or under ${CONTAINER_KEYS.join(', ')}; ` +
        `top-level keys: ${keys.length > 0 ? keys.join(', ') : '(none)'}`,
      undefined,
      [...root].map(([k, v]) => note(`${typeof k === 'string' ? k : describe(k)}: ${describe(v)}`)),
    );
  }
  return fail('E0605', `no state dict found: the file holds ${describe(root)}, not a dict of tensors`);
}

const PREFIX = 'module.';

/**
 * DataParallel/DistributedDataParallel save every key as `module.<name>`. The prefix is removed only
 * when all keys carry it, which is exactly that case; stripping it key by key could merge `module.x`
 * with `x` or mangle a model that really has a submodule called `module`.
 */
function stripModulePrefix(ck: Checkpoint): Checkpoint {
  for (const k of ck.tensors.keys()) if (!k.startsWith(PREFIX)) return ck;
  return {
    tensors: new Map([...ck.tensors].map(([k, t]) => [k.slice(PREFIX.length), t])),
    load: (keys) => {
      const data = ck.load(keys.map((k) => PREFIX + k));
      return new Map(keys.map((k) => [k, data.get(PREFIX + k)!]));
    },
  };
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Pairs a checkpoint with the parameters a model expects. Every expected key must be present with
 * exactly the expected shape (a checkpoint scalar [] does not match [1]); checkpoint keys neither
 * expected nor in `ignorable` (e.g. BatchNorm's num_batches_tracked) are errors. All problems are
 * reported at once as a single E0607 whose notes name the offending keys (up to MAX_KEY_NOTES of
 * each kind, then a count). `ignorable` only excuses
 * extra checkpoint keys: an expected key is required even if also listed there.
 *
 * Keys and shapes are checked on the checkpoint's descriptions before any tensor data is read; then
 * only the expected tensors are loaded, each once, into arrays of exactly the model's sizes. So a
 * checkpoint's memory cost is the model's weights, whatever its headers claim about other tensors.
 */
export function matchCheckpoint(
  expected: readonly { key: string; shape: readonly number[] }[],
  ignorable: readonly string[],
  source: StateDict | Checkpoint,
): { weights: Map<string, Float32Array> } {
  const ck = source instanceof Map ? inMemory(source) : source;
  const missing: string[] = [];
  const mismatched: string[] = [];
  const wanted = new Set<string>();
  for (const { key, shape } of expected) {
    wanted.add(key);
    const t = ck.tensors.get(key);
    if (t === undefined) missing.push(`missing ${key}: model expects ${formatShape(shape)}`);
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      mismatched.push(`${key}: checkpoint ${formatShape(t.shape)} vs model ${formatShape(shape)}`);
    }
  }
  const skip = new Set(ignorable);
  const unexpected: string[] = [];
  for (const [key, t] of ck.tensors) {
    if (!wanted.has(key) && !skip.has(key))
      unexpected.push(`unexpected ${key}: ${formatShape(t.shape)} in checkpoint`);
  }
  const problems = missing.length + unexpected.length + mismatched.length;
  if (problems > 0) {
    const counts: string[] = [];
    const count = (n: number, what: string): void => {
      if (n > 0) counts.push(`${n} ${n === 1 ? 'key' : 'keys'} ${what}`);
    };
    count(missing.length, 'missing');
    count(unexpected.length, 'unexpected');
    count(mismatched.length, 'with a different shape');
    throw new DiagnosticError([
      error(
        'E0607',
        `checkpoint does not match the model: ${counts.join(', ')} (model has ${expected.length} ${expected.length === 1 ? 'tensor' : 'tensors'}, ` +
          `checkpoint ${ck.tensors.size} tensors)`,
        undefined,
        [
          ...capped(missing, 'missing'),
          ...capped(unexpected, 'unexpected'),
          ...capped(mismatched, 'mismatched'),
        ].map((m) => note(m)),
      ),
    ]);
  }
  const keys = [...wanted];
  const data = ck.load(keys);
  return { weights: new Map(keys.map((k) => [k, data.get(k)!])) };
}

/** Notes of one kind beyond this many are summarised: a wrong checkpoint can have thousands of keys. */
export const MAX_KEY_NOTES = 300;

function capped(lines: readonly string[], what: string): string[] {
  if (lines.length <= MAX_KEY_NOTES) return [...lines];
  return [...lines.slice(0, MAX_KEY_NOTES), `... and ${lines.length - MAX_KEY_NOTES} more ${what} keys`];
}

/** A state dict already in memory, as a checkpoint (its arrays are returned as they are). */
function inMemory(sd: StateDict): Checkpoint {
  return { tensors: sd, load: (keys) => new Map(keys.map((k) => [k, sd.get(k)!.data])) };
}
