import fc from 'fast-check';
import { applyByteEdits, byteEdits } from './mutate.js';

/**
 * Generators of `polyc run` inputs (compiler/src/driver/npy.ts): `.npy` files with well-formed,
 * odd and lying headers (shapes with negative, fractional, huge or missing dimensions, other
 * dtypes, Fortran order, version 2/3 headers, cut-off magic), their bytes mutated, and raw float32
 * with an `--input-shape`.
 */

export interface InputCase {
  readonly bytes: Uint8Array;
  /** `--input-shape` (required for raw float32, optional for .npy). */
  readonly shape: readonly number[] | null;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** A .npy file with a verbatim header dict and `dataBytes` bytes of float data. */
export function npyFile(header: string, dataBytes: Uint8Array, major = 1): Uint8Array {
  const pre = major === 1 ? 10 : 12;
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  const text = `${header.padEnd(total - pre - 1)}\n`;
  const out = new Uint8Array(total + dataBytes.length);
  out.set(MAGIC, 0);
  out[6] = major;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  for (let i = 0; i < text.length; i++) out[pre + i] = text.charCodeAt(i) & 255;
  out.set(dataBytes, total);
  return out;
}

function floats(count: number, width: 4 | 8, special: boolean): Uint8Array {
  const out = new Uint8Array(count * width);
  const view = new DataView(out.buffer);
  for (let i = 0; i < count; i++) {
    const v = special && i === 0 ? Number.NaN : Math.sin(i);
    if (width === 4) view.setFloat32(i * 4, v, true);
    else view.setFloat64(i * 8, v, true);
  }
  return out;
}

/** A dimension as the header writes it: usually right, sometimes absurd. */
const dimText = fc.oneof(
  { weight: 6, arbitrary: fc.constant(null) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '-3',
      '0',
      '1.5',
      '1e3',
      '4294967296',
      '9007199254740993',
      "'a'",
      '',
      'None',
      '-0',
    ),
  },
);

/** .npy inputs for a model whose input is [B, ...fixed]: right ones, odd ones and lying ones. */
export function npyInput(fixed: readonly number[], sane = false): fc.Arbitrary<InputCase> {
  return fc
    .record({
      sane: sane ? fc.constant(true) : fc.boolean(),
      batch: fc.integer({ min: 1, max: 3 }),
      dims: fc.array(dimText, { minLength: fixed.length + 1, maxLength: fixed.length + 1 }),
      extraDim: fc.boolean(),
      descr: fc.constantFrom('<f4', '<f4', '<f8', '>f4', '<f2', '|u1', '<i8'),
      fortran: fc.constantFrom('False', 'False', 'True'),
      major: fc.constantFrom(1, 1, 2, 3),
      dataDelta: fc.constantFrom(0, 0, 0, -1, -4, 7),
      special: fc.boolean(),
      withShape: fc.boolean(),
    })
    .map((g) => {
      // Half of the cases (all with `sane`) keep every field right, so that loading succeeds often.
      const r = g.sane
        ? {
            ...g,
            dims: [],
            extraDim: false,
            descr: g.descr === '<f8' ? '<f8' : '<f4',
            fortran: 'False',
            dataDelta: 0,
            special: false,
          }
        : g;
      const shape = [r.batch, ...fixed];
      const dims = shape.map((d, i) => r.dims[i] ?? String(d));
      if (r.extraDim) dims.push('1');
      const header = `{'descr': '${r.descr}', 'fortran_order': ${r.fortran}, 'shape': (${dims.join(', ')}${dims.length === 1 ? ',' : ''}), }`;
      const count = shape.reduce((a, b) => a * b, 1);
      const width = r.descr === '<f8' ? 8 : 4;
      const data = floats(count, width, r.special);
      const cut =
        r.dataDelta < 0
          ? data.subarray(0, Math.max(0, data.length + r.dataDelta))
          : Uint8Array.from([...data, ...new Uint8Array(r.dataDelta)]);
      return { bytes: npyFile(header, cut, r.major), shape: r.withShape ? shape : null };
    });
}

/** Mutated .npy bytes (truncated anywhere, bits flipped, the header length overwritten). */
export function mutatedNpy(fixed: readonly number[]): fc.Arbitrary<InputCase> {
  return fc.oneof(
    fc
      .tuple(npyInput(fixed), byteEdits())
      .map(([c, edits]) => ({ ...c, bytes: applyByteEdits(c.bytes, edits) })),
    // Short files that keep the magic: every prefix of a header.
    fc
      .tuple(npyInput(fixed), fc.integer({ min: 0, max: 80 }))
      .map(([c, n]) => ({ bytes: c.bytes.subarray(0, n), shape: null })),
  );
}

/** Raw little-endian float32 with an --input-shape that may or may not fit. */
export function rawInput(fixed: readonly number[]): fc.Arbitrary<InputCase> {
  return fc
    .record({
      batch: fc.integer({ min: 1, max: 3 }),
      delta: fc.constantFrom(0, 0, 1, -1, 3),
      shape: fc.oneof(
        fc.constant(null),
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 5 }),
      ),
      special: fc.boolean(),
    })
    .map((r) => {
      const shape = r.shape ?? [r.batch, ...fixed];
      const count = shape.reduce((a, b) => a * b, 1);
      const bytes = floats(count, 4, r.special);
      return {
        bytes:
          r.delta >= 0
            ? Uint8Array.from([...bytes, ...new Uint8Array(r.delta)])
            : bytes.subarray(0, bytes.length + r.delta),
        shape,
      };
    });
}

/** Well-formed .npy files of the model's input shape, any batch: they must load and run. */
export function validNpy(fixed: readonly number[]): fc.Arbitrary<InputCase> {
  return npyInput(fixed, true);
}

export function anyInput(fixed: readonly number[]): fc.Arbitrary<InputCase> {
  return fc.oneof(npyInput(fixed), mutatedNpy(fixed), rawInput(fixed));
}
