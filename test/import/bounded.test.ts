import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Checkpoint,
  matchCheckpoint,
  openCheckpoint,
  readCheckpoint,
} from '../../compiler/src/import/checkpoint.js';
import { bytesOf, diagnosticOf, fixture } from './helpers.js';
import {
  expandedAliases,
  overlappingSafetensors,
  sharedStreamZip,
  statePickle,
  torchZip,
} from './hostile.js';

const dir = mkdtempSync(join(tmpdir(), 'polyc-bounded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MIB = 1 << 20;

interface ChildResult {
  code: string | null;
  weightsBytes: number;
  baseRss: number;
  peakRss: number;
  ms: number;
}

/**
 * Loads `bytes` against `expected` in a child process (load-child.ts) with a small V8 heap, so that
 * its peak resident memory is measured alone; typed arrays live outside the heap, so the peak, not
 * the heap limit, is what the assertions bound.
 */
function loadInChild(
  name: string,
  bytes: Uint8Array,
  expected: { key: string; shape: number[] }[],
  ignorable: string[] = [],
): ChildResult {
  const file = join(dir, name);
  const spec = join(dir, `${name}.json`);
  writeFileSync(file, bytes);
  writeFileSync(spec, JSON.stringify({ expected, ignorable }));
  const r = spawnSync(
    process.execPath,
    ['--max-old-space-size=128', '--import', 'tsx', 'test/import/load-child.ts', file, spec],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ChildResult;
}

/** Growth of the resident set while loading. */
const growth = (r: ChildResult): number => r.peakRss - r.baseRss;

// The amplifiers of the fuzz campaign (issue 14): each used to take gigabytes. Now the keys and
// shapes are checked on the headers first and only the model's tensors are read, so the peak is the
// model's weights plus a small constant.
describe('hostile checkpoints stay within a small multiple of the model', () => {
  const aliases = expandedAliases(2000, MIB);
  it('torch.zeros(1).expand(1 << 20) x 2000 (used to pass 6 GB)', () => {
    expect(aliases.bytes.length).toBeLessThan(160_000);
    const mismatch = loadInChild('alias.pt', aliases.bytes, [{ key: 'w0', shape: [MIB] }]);
    expect(mismatch.code).toBe('E0607');
    expect(growth(mismatch)).toBeLessThan(32 * MIB);
    // The same file where the model wants one of the aliases: 4 MiB of weights, read once.
    const one = loadInChild('alias.pt', aliases.bytes, [{ key: 'w0', shape: [MIB] }], aliases.keys.slice(1));
    expect(one).toMatchObject({ code: null, weightsBytes: 4 * MIB });
    expect(growth(one)).toBeLessThan(3 * 4 * MIB + 32 * MIB);
  });

  it('400 safetensors entries over one range (used to take 1.67 GB)', () => {
    const st = overlappingSafetensors(400, MIB);
    expect(st.bytes.length).toBeLessThan(4.3e6);
    const mismatch = loadInChild('overlap.safetensors', st.bytes, [{ key: 'w0', shape: [MIB] }]);
    expect(mismatch.code).toBe('E0607');
    expect(growth(mismatch)).toBeLessThan(32 * MIB);
    const one = loadInChild('overlap.safetensors', st.bytes, [{ key: 'w0', shape: [MIB] }], st.keys.slice(1));
    expect(one).toMatchObject({ code: null, weightsBytes: 4 * MIB });
    expect(growth(one)).toBeLessThan(3 * 4 * MIB + 32 * MIB);
  });

  it('8 zip entries sharing one 128 MiB deflate stream (used to take 1.09 GB)', () => {
    const shared = sharedStreamZip(8, 128 * MIB, { offset: 0, shape: [1] });
    expect(shared.bytes.length).toBeLessThan(140_000);
    const expected = shared.keys.map((key) => ({ key, shape: [1] }));
    // Each storage is inflated only as far as its view reaches: a few bytes, not 128 MiB.
    const r = loadInChild('shared.pt', shared.bytes, expected);
    expect(r).toMatchObject({ code: null, weightsBytes: 8 * 4 });
    expect(growth(r)).toBeLessThan(48 * MIB);
    expect(r.ms).toBeLessThan(5000);
    // A view at the stream's far end would need all of it for 4 bytes: refused before inflating.
    const far = sharedStreamZip(8, 128 * MIB, { offset: 32 * MIB - 1, shape: [1] });
    const refused = loadInChild('far.pt', far.bytes, expected);
    expect(refused.code).toBe('E0606');
    expect(growth(refused)).toBeLessThan(16 * MIB);
  });
});

describe('checkpoint readers check before they read', () => {
  it('matchCheckpoint loads only the expected keys, once, and nothing on a mismatch', () => {
    const calls: string[][] = [];
    const ck: Checkpoint = {
      tensors: new Map([
        ['a', { dtype: 'f32', shape: [2] }],
        ['b', { dtype: 'f32', shape: [3] }],
        ['counter', { dtype: 'i64', shape: [] }],
      ]),
      load: (keys) => {
        calls.push([...keys]);
        return new Map(keys.map((k) => [k, new Float32Array(k === 'a' ? 2 : 3)]));
      },
    };
    const { weights } = matchCheckpoint(
      [
        { key: 'b', shape: [3] },
        { key: 'a', shape: [2] },
      ],
      ['counter'],
      ck,
    );
    expect(calls).toEqual([['b', 'a']]);
    expect([...weights.keys()]).toEqual(['b', 'a']);
    calls.length = 0;
    expect(diagnosticOf(() => matchCheckpoint([{ key: 'a', shape: [4] }], ['b', 'counter'], ck)).code).toBe(
      'E0607',
    );
    expect(calls).toEqual([]);
  });

  it('an unreadable tensor the model does not need is not read', () => {
    // A bool storage under an ignorable key: reading it would be E0606, but it is never read.
    const pickle = statePickle([
      { key: 'w', storage: '0', numel: 2, offset: 0, shape: [2], stride: [1] },
      { key: 'mask', storage: '1', numel: 2, offset: 0, shape: [2], stride: [1], type: 'BoolStorage' },
    ]);
    const bytes = torchZip(pickle, { '0': new Uint8Array(8), '1': new Uint8Array(2) });
    const ck = openCheckpoint(bytes, 'x.pt');
    expect(matchCheckpoint([{ key: 'w', shape: [2] }], ['mask'], ck).weights.get('w')).toEqual(
      new Float32Array(2),
    );
    expect(diagnosticOf(() => readCheckpoint(bytes, 'x.pt'))).toMatchObject({
      code: 'E0606',
      message: expect.stringContaining('torch.BoolStorage'),
    });
  });

  it('readCheckpoint, with no model, refuses tensors far larger than the file', () => {
    const d = diagnosticOf(() => readCheckpoint(expandedAliases(2000, MIB).bytes, 'alias.pt'));
    expect(d.code).toBe('E0606');
    expect(d.message).toContain('alias.pt');
    // The bound is 4 bytes of float32 per file byte plus 16 MiB: four views of 1 << 20 elements
    // (the 16 MiB) and one of as many elements as the file has bytes read; one element more does not.
    const file = (last: number): Uint8Array =>
      torchZip(
        statePickle(
          [MIB, MIB, MIB, MIB, last].map((n, i) => ({
            key: `w${i}`,
            storage: '0',
            numel: 1,
            offset: 0,
            shape: [n],
            stride: [0],
          })),
        ),
        { '0': new Uint8Array(4) },
      );
    const length = file(1000).length; // every size from 256 on is pickled in the same 5 bytes
    expect(readCheckpoint(file(length), 'ok.pt').get('w4')!.data.length).toBe(length);
    expect(diagnosticOf(() => readCheckpoint(file(length + 1), 'over.pt'))).toMatchObject({
      code: 'E0606',
      message: expect.stringContaining('more than 4x'),
    });
  });

  it('inflates a compressed storage up to 4x its views plus 1 MiB, and refuses one byte more', () => {
    // One 4-byte view; the bound is 4 * 4 + 1 MiB = 1048592 bytes, i.e. 262148 float32 elements.
    const edge = (offset: number) => sharedStreamZip(1, 2 * MIB, { offset, shape: [1] }).bytes;
    const ok = openCheckpoint(edge(262147), 'edge.pt');
    expect(matchCheckpoint([{ key: 'w0', shape: [1] }], [], ok).weights.get('w0')).toEqual(
      new Float32Array(1),
    );
    const over = openCheckpoint(edge(262148), 'over.pt');
    const d = diagnosticOf(() => matchCheckpoint([{ key: 'w0', shape: [1] }], [], over));
    expect(d).toMatchObject({ code: 'E0606', message: expect.stringContaining('over.pt: tensor w0') });
  });

  it('reads stored storages in place however far into them a view starts', () => {
    const numel = 1 << 18;
    const data = new Float32Array(numel);
    data[numel - 1] = 7;
    const pickle = statePickle([
      { key: 'w', storage: '0', numel, offset: numel - 1, shape: [1], stride: [1] },
    ]);
    const bytes = torchZip(pickle, { '0': new Uint8Array(data.buffer) });
    const { weights } = matchCheckpoint([{ key: 'w', shape: [1] }], [], openCheckpoint(bytes, 'x.pt'));
    expect([...weights.get('w')!]).toEqual([7]);
  });

  it('refuses a zip entry that inflates to less than it declares', () => {
    // The directory says 2 KiB; the stream holds 1 KiB of zeros.
    const short = sharedStreamZip(1, 1024, { offset: 0, shape: [512] }, 2048);
    const ck = openCheckpoint(short.bytes, 'short.pt');
    expect(diagnosticOf(() => matchCheckpoint([{ key: 'w0', shape: [512] }], [], ck))).toMatchObject({
      code: 'E0601',
      message: expect.stringContaining('inflates to less than its declared size'),
    });
  });

  it('refuses duplicated entries and unknown compression methods', () => {
    const bytes = new Uint8Array(fixture('small.pt'));
    // Rename the second central directory entry's name to the first's: a duplicate.
    const zip = zipSync({ 'a/data.pkl': bytesOf('\x80\x02}.'), 'a/data.pkX': bytesOf('x') }, { level: 0 });
    const text = new TextDecoder('latin1').decode(zip).replaceAll('a/data.pkX', 'a/data.pkl');
    expect(diagnosticOf(() => readCheckpoint(bytesOf(text), 'dup.pt'))).toMatchObject({
      code: 'E0601',
      message: expect.stringContaining('appears twice'),
    });
    // Compression method 12 (bzip2) in every header of small.pt's storage entries.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let p = 0; p + 4 <= bytes.length; p++) {
      if (view.getUint32(p, true) === 0x02014b50) view.setUint16(p + 10, 12, true);
    }
    expect(diagnosticOf(() => readCheckpoint(bytes, 'bz.pt'))).toMatchObject({
      code: 'E0601',
      message: expect.stringContaining('compression method 12'),
    });
  });
});
