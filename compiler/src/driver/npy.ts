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

export function readNpy(bytes: Uint8Array, file: string): NpyArray {
  if (!isNpy(bytes)) fail('E0702', `${file} is not a .npy file (bad magic number)`);
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) fail('E0702', `${file}: truncated .npy header`);
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    fail('E0702', `${file}: malformed .npy header ${JSON.stringify(header.trim())}`);
  }
  if (fortran === 'True')
    fail('E0702', `${file}: Fortran-order arrays are not supported; save with np.ascontiguousarray`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = bytes.subarray(start + headerLen);
  const width = descr === '<f4' ? 4 : descr === '<f8' ? 8 : 0;
  if (width === 0)
    fail('E0702', `${file}: dtype '${descr}' is not supported (use float32 '<f4' or float64 '<f8')`);
  if (body.length < count * width) {
    fail(
      'E0702',
      `${file}: truncated data: shape (${shape.join(', ')}) needs ${count * width} bytes, found ${body.length}`,
    );
  }
  const dv = new DataView(body.buffer, body.byteOffset, count * width);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++)
    data[i] = width === 4 ? dv.getFloat32(4 * i, true) : dv.getFloat64(8 * i, true);
  return { shape, data };
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
