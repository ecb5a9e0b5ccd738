import { fail } from '../diagnostics/diagnostic.js';
import {
  type Checkpoint,
  contiguousStrides,
  DTYPE_SIZE,
  type Dtype,
  gather,
  loadAll,
  numelOf,
  type StateDict,
} from './tensor.js';

/**
 * Reader for the safetensors format: an 8-byte little-endian header length N, N bytes of JSON
 *   { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ...,
 *     "__metadata__": { "<string>": "<string>" } }
 * then the data section; offsets are relative to its start and tensors are contiguous, little-endian.
 */

const DTYPES: ReadonlyMap<string, Dtype> = new Map<string, Dtype>([
  ['F32', 'f32'],
  ['F16', 'f16'],
  ['BF16', 'bf16'],
  ['F64', 'f64'],
  ['I64', 'i64'],
  ['I32', 'i32'],
]);

function badHeader(why: string): never {
  return fail('E0601', `not a readable safetensors file: ${why}`);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isCountList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every(isCount);
}

function parseHeader(bytes: Uint8Array): { header: Record<string, unknown>; dataStart: number } {
  if (bytes.length < 8) badHeader(`the file is only ${bytes.length} bytes long`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) {
    badHeader(
      `its header claims ${n} bytes but the file has only ${bytes.length - 8} after the length; truncated?`,
    );
  }
  const dataStart = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (e) {
    badHeader(`the header is not valid UTF-8 JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    badHeader('the header is not a JSON object');
  }
  return { header: header as Record<string, unknown>, dataStart };
}

/**
 * Indexes a safetensors file: every entry's dtype, shape and data range is checked from the header,
 * and `load` converts only the tensors asked for, each from its own range. Entries whose ranges
 * overlap are legal here (each reads its own bytes); nothing is copied for a tensor not loaded.
 * Bad header: E0601; offsets outside the data: E0608.
 */
export function indexSafetensors(bytes: Uint8Array): Checkpoint {
  const { header, dataStart } = parseHeader(bytes);
  const dataLength = bytes.length - dataStart;
  const entries = new Map<string, { dtype: Dtype; shape: number[]; begin: number; end: number }>();
  // Object.entries sees JSON.parse's own properties only, so a "__proto__" key is just a name here.
  for (const [key, entry] of Object.entries(header)) {
    if (key === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        badHeader('__metadata__ is not an object');
      }
      continue;
    }
    const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    const { dtype: dtypeName, shape, data_offsets: offsets } = e;
    if (
      typeof dtypeName !== 'string' ||
      !isCountList(shape) ||
      !isCountList(offsets) ||
      offsets.length !== 2
    ) {
      badHeader(`tensor ${key} needs a dtype string, a shape and two data_offsets`);
    }
    const dtype = DTYPES.get(dtypeName);
    if (dtype === undefined) {
      fail('E0606', `tensor ${key} has dtype ${dtypeName}; supported: ${[...DTYPES.keys()].join(', ')}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) badHeader(`tensor ${key} has data_offsets [${begin}, ${end}] that run backwards`);
    if (end > dataLength) {
      fail(
        'E0608',
        `tensor ${key} needs bytes ${begin}..${end} of the data section but it has only ${dataLength}; ` +
          'the file is truncated or corrupt',
      );
    }
    const need = numelOf(shape) * DTYPE_SIZE[dtype];
    if (end - begin !== need) {
      fail(
        'E0608',
        `tensor ${key}: data_offsets cover ${end - begin} bytes but ${dtypeName}[${shape}] needs ${need}`,
      );
    }
    entries.set(key, { dtype, shape: [...shape], begin, end });
  }
  return {
    tensors: entries,
    load: (keys) =>
      new Map(
        keys.map((key) => {
          const { dtype, shape, begin, end } = entries.get(key)!;
          const storage = bytes.subarray(dataStart + begin, dataStart + end);
          const layout = { offset: 0, shape, stride: contiguousStrides(shape) };
          return [key, gather(storage, dtype, true, layout, `tensor ${key}`)];
        }),
      ),
  };
}

/** Reads every tensor of a safetensors file (see `indexSafetensors`). */
export function readSafetensors(bytes: Uint8Array): StateDict {
  return loadAll(indexSafetensors(bytes));
}
