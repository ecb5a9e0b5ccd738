import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../compiler/src/import/checkpoint.js';
import { readSafetensors } from '../../compiler/src/import/safetensors.js';
import { diagnosticOf, fixture } from './helpers.js';

/** A safetensors file from a header object (or raw header text) and a data section. */
function make(header: object | string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

const f32 = (...xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);

describe('safetensors', () => {
  it('reads F32, F16, BF16 and I64 tensors and skips __metadata__', () => {
    const sd = readCheckpoint(fixture('small.safetensors'), 'small.safetensors');
    expect([...sd.keys()]).toEqual(['a.weight', 'a.half', 'a.bf16', 'a.steps']);
    expect(sd.get('a.weight')).toEqual({
      dtype: 'f32',
      shape: [2, 2],
      data: new Float32Array([1, -2, 3.5, 0.25]),
    });
    expect(sd.get('a.half')).toEqual({ dtype: 'f16', shape: [3], data: new Float32Array([0.5, -1.5, 1024]) });
    expect(sd.get('a.bf16')).toEqual({ dtype: 'bf16', shape: [2], data: new Float32Array([-2, 0.15625]) });
    expect(sd.get('a.steps')).toEqual({ dtype: 'i64', shape: [], data: new Float32Array([9]) });
  });

  it('strips a module. prefix carried by every key', () => {
    const sd = readCheckpoint(fixture('prefixed.safetensors'), 'prefixed.safetensors');
    expect([...sd.keys()]).toEqual(['a.weight', 'a.half', 'a.bf16', 'a.steps']);
  });

  it('keeps module. when only some keys carry it', () => {
    const bytes = make({
      'module.x': { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
    });
    const padded = new Uint8Array([...bytes, ...f32(1, 2)]);
    expect([...readCheckpoint(padded, 'x.safetensors').keys()]).toEqual(['module.x', 'y']);
  });

  it('reports a truncated data section as E0608', () => {
    const d = diagnosticOf(() =>
      readCheckpoint(fixture('truncated_data.safetensors'), 'truncated_data.safetensors'),
    );
    expect(d.code).toBe('E0608');
    expect(d.message).toContain('truncated_data.safetensors');
    expect(d.message).toContain('truncated');
  });

  it('treats "__proto__" as an ordinary tensor name', () => {
    const sd = readSafetensors(
      make('{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', f32(7)),
    );
    expect([...sd.keys()]).toEqual(['__proto__']);
    expect(sd.get('__proto__')?.data[0]).toBe(7);
  });

  it.each([
    [
      'a header length beyond the file',
      (() => {
        const b = make({});
        new DataView(b.buffer).setUint32(0, 1000, true);
        return b;
      })(),
      'E0601',
      'truncated',
    ],
    ['a header that is not JSON', make('{"a": '), 'E0601', 'JSON'],
    ['a header that is not an object', make('[1, 2]'), 'E0601', 'object'],
    ['an entry without data_offsets', make({ a: { dtype: 'F32', shape: [1] } }), 'E0601', 'data_offsets'],
    [
      'a negative dimension',
      make({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)),
      'E0601',
      'shape',
    ],
    [
      'offsets that run backwards',
      make({ a: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, f32(1)),
      'E0601',
      'backwards',
    ],
    ['a bad __metadata__', make({ __metadata__: 3 }), 'E0601', '__metadata__'],
    [
      'an unsupported dtype',
      make({ a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
      'E0606',
      'U8',
    ],
    [
      'offsets past the data',
      make({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32(1)),
      'E0608',
      'truncated',
    ],
    [
      'offsets that disagree with the shape',
      make({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, f32(1)),
      'E0608',
      'needs 8',
    ],
  ])('rejects %s', (_what, bytes, code, words) => {
    const d = diagnosticOf(() => readSafetensors(bytes));
    expect(d.code).toBe(code);
    expect(d.message).toContain(words);
  });
});
