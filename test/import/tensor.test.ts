import { describe, expect, it } from 'vitest';
import { contiguousStrides, gather } from '../../compiler/src/import/tensor.js';
import { diagnosticOf } from './helpers.js';

const u16 = (...xs: number[]): Uint8Array => new Uint8Array(new Uint16Array(xs).buffer);

describe('gather', () => {
  it('widens float16 specials and subnormals', () => {
    const half = u16(0x7c00, 0xfc00, 0x7e00, 0x0001, 0x03ff, 0x3c00, 0x8000);
    const out = gather(half, 'f16', true, { offset: 0, shape: [7], stride: [1] }, 'h');
    expect([...out]).toEqual([Infinity, -Infinity, Number.NaN, 2 ** -24, 1023 * 2 ** -24, 1, -0]);
  });

  it('reads big-endian storages', () => {
    const be = new Uint8Array([0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]);
    expect([...gather(be, 'f32', false, { offset: 0, shape: [2], stride: [1] }, 'b')]).toEqual([1, -2]);
  });

  it('gathers a 3-d permutation', () => {
    // storage [0..23] as [2,3,4], permuted to [4,2,3]: out[i,j,k] = in[j,k,i]
    const storage = new Uint8Array(new Float32Array(Array.from({ length: 24 }, (_, i) => i)).buffer);
    const out = gather(storage, 'f32', true, { offset: 0, shape: [4, 2, 3], stride: [1, 12, 4] }, 'p');
    expect([...out.subarray(0, 7)]).toEqual([0, 4, 8, 12, 16, 20, 1]);
    expect(contiguousStrides([2, 3, 4])).toEqual([12, 4, 1]);
  });

  it('refuses views that read past their storage or expand it enormously', () => {
    const one = new Uint8Array(4);
    expect(
      diagnosticOf(() => gather(one, 'f32', true, { offset: 1, shape: [1], stride: [1] }, 't')).code,
    ).toBe('E0608');
    const huge = { offset: 0, shape: [2 ** 25, 4], stride: [0, 0] };
    expect(diagnosticOf(() => gather(one, 'f32', true, huge, 't'))).toMatchObject({
      code: 'E0606',
      message: expect.stringContaining('.contiguous()'),
    });
  });
});
