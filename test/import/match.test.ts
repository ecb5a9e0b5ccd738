import { describe, expect, it } from 'vitest';
import {
  MAX_KEY_NOTES,
  matchCheckpoint,
  readCheckpoint,
  type StateDict,
} from '../../compiler/src/import/checkpoint.js';
import { diagnosticOf, golden } from './helpers.js';

function sdOf(entries: [string, number[]][]): StateDict {
  return new Map(
    entries.map(([key, shape]) => [
      key,
      { dtype: 'f32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(key.length) },
    ]),
  );
}

describe('matchCheckpoint', () => {
  it('returns the weights of every expected key, in model order', () => {
    const sd = sdOf([
      ['b', [2]],
      ['a', [1, 3]],
      ['bn.num_batches_tracked', []],
    ]);
    const { weights } = matchCheckpoint(
      [
        { key: 'a', shape: [1, 3] },
        { key: 'b', shape: [2] },
      ],
      ['bn.num_batches_tracked', 'absent.num_batches_tracked'],
      sd,
    );
    expect([...weights.keys()]).toEqual(['a', 'b']);
    expect(weights.get('a')).toBe(sd.get('a')!.data);
  });

  it('reports every missing, unexpected and mis-shaped key in one diagnostic', () => {
    const expected = [
      { key: 'stem.weight', shape: [16, 3, 3, 3] },
      { key: 'cells.0.scale', shape: [1] },
      { key: 'head.weight', shape: [10, 64] },
      { key: 'head.bias', shape: [10] },
      { key: 'missing.one', shape: [4] },
      { key: 'missing.two', shape: [5, 6] },
    ];
    const sd = sdOf([
      ['stem.weight', [16, 3, 3, 3]],
      ['cells.0.scale', []],
      ['head.weight', [64, 10]],
      ['head.bias', [10]],
      ['extra.one', [3]],
      ['extra.two', [7, 7]],
      ['ignored', [1]],
    ]);
    const d = diagnosticOf(() => matchCheckpoint(expected, ['ignored'], sd));
    expect(d.code).toBe('E0607');
    expect(d.message).toContain('2 keys missing, 2 keys unexpected, 2 keys with a different shape');
    const notes = d.notes.map((n) => n.message);
    expect(notes).toEqual([
      'missing missing.one: model expects [4]',
      'missing missing.two: model expects [5, 6]',
      'unexpected extra.one: [3] in checkpoint',
      'unexpected extra.two: [7, 7] in checkpoint',
      'cells.0.scale: checkpoint [] vs model [1]',
      'head.weight: checkpoint [64, 10] vs model [10, 64]',
    ]);
    for (const key of [
      'missing.one',
      'missing.two',
      'extra.one',
      'extra.two',
      'cells.0.scale',
      'head.weight',
    ]) {
      expect(notes.some((n) => n.includes(key))).toBe(true);
    }
    expect(notes.some((n) => n.includes('ignored') || n.includes('stem.weight'))).toBe(false);
  });

  it('requires an expected key even when it is also ignorable', () => {
    const d = diagnosticOf(() => matchCheckpoint([{ key: 'x', shape: [1] }], ['x'], new Map()));
    expect(d.notes.map((n) => n.message)).toEqual(['missing x: model expects [1]']);
  });

  it('matches the golden checkpoint against its own key list, and names every key when all are off', () => {
    const sd = readCheckpoint(golden('cpolynext_lr_small/weights.pt'), 'weights.pt');
    const expected = [...sd].map(([key, t]) => ({ key, shape: t.shape }));
    expect(matchCheckpoint(expected, [], sd).weights.size).toBe(262);
    const renamed = expected.map(({ key, shape }) => ({ key: `net.${key}`, shape }));
    const d = diagnosticOf(() => matchCheckpoint(renamed, [], sd));
    expect(d.message).toContain('262 keys missing, 262 keys unexpected');
    expect(d.notes).toHaveLength(524);
    const text = d.notes.map((n) => n.message).join('\n');
    for (const key of sd.keys()) {
      expect(text).toContain(`missing net.${key}:`);
      expect(text).toContain(`unexpected ${key}:`);
    }
  });

  it('summarises the notes of a kind beyond MAX_KEY_NOTES (a hostile checkpoint can have thousands of keys)', () => {
    const n = MAX_KEY_NOTES + 5;
    const sd: StateDict = new Map(
      Array.from({ length: n }, (_, i) => [`k${i}`, { dtype: 'f32', shape: [1], data: new Float32Array(1) }]),
    );
    const d = diagnosticOf(() => matchCheckpoint([], [], sd));
    expect(d.message).toContain(`${n} keys unexpected`);
    expect(d.notes).toHaveLength(MAX_KEY_NOTES + 1);
    expect(d.notes.at(-1)!.message).toBe('... and 5 more unexpected keys');
  });
});
