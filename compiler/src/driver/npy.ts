import { fail } from '../diagnostics/diagnostic.js';

/** Minimal NumPy `.npy` support: little-endian float32/float64 arrays in C order. */

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export interface NpyArray {
  readonly shape: number[];
  readonly data: Float32Array;
}

export function isNpy(bytes: Uint8Array): boolean {
  return MAGIC.every((b, i) => bytes[i] === b);
}

/** The .npy dtypes read, by their `descr`, with their element size. */
const NPY_DTYPES: ReadonlyMap<string, 4 | 8> = new Map<string, 4 | 8>([
  ['<f4', 4],
  ['<f8', 8],
]);

/**
 * Reads a `.npy` file. Every field is checked before anything is allocated: the version and header
 * length against the file, the header as the dict numpy writes (descr, fortran_order, shape: a tuple
 * of non-negative integers), and the data's length against the shape, exactly. Problems are E0702
 * naming the file.
 */
export function readNpy(bytes: Uint8Array, file: string): NpyArray {
  const bad: (why: string) => never = (why) => fail('E0702', `${file}: not a readable .npy file: ${why}`);
  if (!isNpy(bytes)) fail('E0702', `${file} is not a .npy file (bad magic number)`);
  const major = bytes[6];
  if (major !== 1 && major !== 2 && major !== 3) {
    bad(`format version ${major ?? '(missing)'} (versions 1 to 3 are read)`);
  }
  // Version 1 has a 2-byte header length, versions 2 and 3 a 4-byte one.
  const start = major === 1 ? 10 : 12;
  if (bytes.length < start) bad(`the file is only ${bytes.length} bytes long, too short for a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (headerLen > bytes.length - start) {
    bad(`the header claims ${headerLen} bytes but only ${bytes.length - start} follow; truncated?`);
  }
  let header: string;
  try {
    // Versions 1 and 2 are latin1 headers, version 3 UTF-8; either way a valid header is ASCII.
    header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(
      bytes.subarray(start, start + headerLen),
    );
  } catch {
    return bad('the header is not valid text');
  }
  const { descr, fortranOrder, shape } = parseHeader(header, bad);
  const width = NPY_DTYPES.get(descr);
  if (width === undefined) {
    bad(`dtype '${descr}' is not supported (use float32 '<f4' or float64 '<f8')`);
  }
  if (fortranOrder) bad('Fortran-order arrays are not supported; save with np.ascontiguousarray');
  const body = bytes.subarray(start + headerLen);
  // Dimensions multiply within what the data could hold; a product beyond it is refused before it
  // can overflow (or round) as a double.
  let count = shape.includes(0) ? 0 : 1;
  for (const d of shape) {
    count *= d;
    if (count * width > body.length) break;
  }
  const dims = `shape (${shape.join(', ')}) of '${descr}'`;
  if (count * width > body.length) {
    bad(
      `${dims} needs at least ${count * width} bytes of data, but ${body.length} follow the header; truncated?`,
    );
  }
  if (count * width < body.length) {
    bad(`${dims} needs ${count * width} bytes of data, but ${body.length} follow the header`);
  }
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++)
    data[i] = width === 4 ? dv.getFloat32(4 * i, true) : dv.getFloat64(8 * i, true);
  return { shape, data };
}

/**
 * The header dict as numpy writes it, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
 * padded with spaces and a newline; keys in any order, each exactly once, nothing else.
 */
function parseHeader(
  header: string,
  bad: (why: string) => never,
): { descr: string; fortranOrder: boolean; shape: number[] } {
  const shown = JSON.stringify(header.trim().slice(0, 200));
  const body = /^\s*\{(.*)\}\s*$/s.exec(header)?.[1];
  if (body === undefined) return bad(`the header is not a dict: ${shown}`);
  const entry = /^\s*'(descr|fortran_order|shape)'\s*:\s*('[^']*'|True|False|\([^()]*\))\s*(,|$)/;
  const fields = new Map<string, string>();
  let rest = body;
  while (rest.trim() !== '') {
    const m = entry.exec(rest);
    if (m === null) {
      return bad(`the header is not the dict numpy writes (descr, fortran_order, shape): ${shown}`);
    }
    const [whole, key, value] = m as unknown as [string, string, string];
    if (fields.has(key)) bad(`the header names '${key}' twice: ${shown}`);
    fields.set(key, value);
    rest = rest.slice(whole.length);
  }
  const descr = fields.get('descr');
  const fortran = fields.get('fortran_order');
  const shapeText = fields.get('shape');
  if (descr === undefined || !descr.startsWith("'") || fortran === undefined || shapeText === undefined) {
    return bad(`the header needs 'descr' (a string), 'fortran_order' and 'shape': ${shown}`);
  }
  if (fortran !== 'True' && fortran !== 'False') bad(`'fortran_order' is ${fortran}, not True or False`);
  const inner = shapeText.slice(1, -1).trim();
  const parts = inner === '' ? [] : inner.replace(/,\s*$/, '').split(',');
  // A one-element tuple needs its comma: `(3)` is the integer 3 in Python, not a shape.
  if (parts.length === 1 && !/,\s*$/.test(inner)) bad(`'shape' is ${shapeText}, not a tuple`);
  const shape = parts.map((p) => {
    const t = p.trim();
    if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t))) {
      bad(`'shape' ${shapeText} has a dimension '${t}' that is not a non-negative integer`);
    }
    return Number(t);
  });
  return { descr: descr.slice(1, -1), fortranOrder: fortran === 'True', shape };
}

export function writeNpy(shape: readonly number[], data: Float32Array): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // The header is padded with spaces so that the data starts on a 64-byte boundary.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = `${header.padEnd(total - 10 - 1)}\n`;
  const out = new Uint8Array(total + data.length * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const dv = new DataView(out.buffer, total);
  data.forEach((v, i) => {
    dv.setFloat32(4 * i, v, true);
  });
  return out;
}

/** Raw little-endian float32 bytes. */
export function readF32(bytes: Uint8Array, file: string): Float32Array {
  if (bytes.length % 4 !== 0)
    fail('E0702', `${file}: ${bytes.length} bytes is not a whole number of float32 values`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: bytes.length / 4 }, (_, i) => dv.getFloat32(4 * i, true));
}

export function writeF32(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const dv = new DataView(out.buffer);
  data.forEach((v, i) => {
    dv.setFloat32(4 * i, v, true);
  });
  return out;
}
