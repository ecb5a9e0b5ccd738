import { existsSync, rmSync } from 'node:fs';
import { unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { DiagnosticError } from '../../compiler/src/diagnostics/diagnostic.js';
import { readCheckpoint, type StateDict, type Tensor } from '../../compiler/src/import/checkpoint.js';
import { bytesOf, diagnosticOf, fixture, golden } from './helpers.js';

const tensor = (sd: StateDict, key: string): Tensor => {
  const t = sd.get(key);
  if (t === undefined) throw new Error(`no ${key} in ${[...sd.keys()].join(', ')}`);
  return t;
};
const totalNumel = (sd: StateDict): number => [...sd.values()].reduce((n, t) => n + t.data.length, 0);

describe('golden checkpoints', () => {
  // Expected values read independently with Python's zipfile/struct/json (no torch, no numpy).
  it('reads the cpolynext_lr_small torch.save zip', () => {
    const sd = readCheckpoint(golden('cpolynext_lr_small/weights.pt'), 'weights.pt');
    expect(sd.size).toBe(262); // the zip has 264 entries: data.pkl, version and 262 storages
    expect(totalNumel(sd)).toBe(304907); // meta.json's 304906 parameters plus the scalar head.2.p
    const stem = tensor(sd, 'stem.weight');
    expect(stem.dtype).toBe('f32');
    expect(stem.shape).toEqual([16, 3, 3, 3]);
    expect(stem.data[0]).toBe(0.12711401283740997);
    expect(stem.data[1]).toBe(-0.1439099758863449);
    expect(stem.data[3 * 27 + 1 * 9 + 2 * 3 + 0]).toBe(-0.07100872695446014);
    expect(stem.data[431]).toBe(0.14732198417186737);
    expect(tensor(sd, 'cells.0.preprocess0.scale').shape).toEqual([1, 16, 1, 1]);
    expect(tensor(sd, 'head.2.p').shape).toEqual([]);
    expect([...tensor(sd, 'head.3.bias').data.subarray(0, 3)]).toEqual([
      -0.010869277641177177, -0.19207477569580078, 0.06212618947029114,
    ]);
    expect([...sd.keys()].slice(0, 2)).toEqual(['stem.weight', 'cells.0.skip_weight']);
  });

  it('reads the apolynext_s_small safetensors file', () => {
    const sd = readCheckpoint(golden('apolynext_s_small/weights.safetensors'), 'weights.safetensors');
    expect(sd.size).toBe(756);
    expect(totalNumel(sd)).toBe(1406747);
    expect(tensor(sd, 'stem.weight').shape).toEqual([16, 3, 7, 7]);
    const qkv = tensor(sd, 'cells.16.ops.0.1.qkv.weight');
    expect(qkv.shape).toEqual([128, 96, 1, 1]);
    expect(qkv.data[0]).toBe(-0.07716089487075806);
    expect(qkv.data[5 * 96 + 7]).toBe(-0.08832526952028275);
    expect(qkv.data[127 * 96 + 95]).toBe(-0.014917113818228245);
  });
});

describe('torch.save files', () => {
  it('reads a state dict OrderedDict (with its _metadata BUILD) and integer counters', () => {
    const sd = readCheckpoint(fixture('small.pt'), 'small.pt');
    expect([...sd.keys()]).toEqual(['conv.weight', 'conv.bias', 'bn.num_batches_tracked']);
    expect(tensor(sd, 'conv.weight')).toEqual({
      dtype: 'f32',
      shape: [2, 3, 1, 1],
      data: new Float32Array([0.5, -1.25, 2.0, 3.5, -4.0, 0.125]),
    });
    expect(tensor(sd, 'bn.num_batches_tracked')).toEqual({
      dtype: 'i64',
      shape: [],
      data: new Float32Array([42]),
    });
  });

  it('does not depend on the buffer being aligned or starting at offset 0', () => {
    const bytes = fixture('small.pt');
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(readCheckpoint(padded.subarray(3), 'small.pt')).toEqual(readCheckpoint(bytes, 'small.pt'));
  });

  it('finds a state dict under state_dict and strips module. prefixes', () => {
    // The file also holds optimizer state, floats, big ints, bytes and None around the weights.
    const sd = readCheckpoint(fixture('nested_state_dict.pt'), 'nested_state_dict.pt');
    expect([...sd.keys()]).toEqual(['fc.weight', 'fc.bias']);
    expect(tensor(sd, 'fc.weight').shape).toEqual([2, 3]);
    expect([...tensor(sd, 'fc.weight').data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...tensor(sd, 'fc.bias').data]).toEqual([-1, 1]);
  });

  it('falls through to model_ema when model is not a state dict', () => {
    const sd = readCheckpoint(fixture('model_ema.pt'), 'model_ema.pt');
    expect([...sd.keys()]).toEqual(['fc.weight', 'fc.bias']);
  });

  it('lists the top-level keys when no state dict is found', () => {
    const d = diagnosticOf(() => readCheckpoint(fixture('no_state_dict.pt'), 'no_state_dict.pt'));
    expect(d.code).toBe('E0605');
    expect(d.message).toContain('no_state_dict.pt');
    expect(d.message).toContain('top-level keys: epoch, optimizer, weights');
    expect(d.notes.map((n) => n.message)).toEqual([
      'epoch: 1',
      'optimizer: a dict of 1 entries, 0 of them tensors',
      'weights: a list/tuple of 1 items',
    ]);
  });

  it('gathers non-contiguous views: transposed, offset and stride-0', () => {
    const sd = readCheckpoint(fixture('strided.pt'), 'strided.pt');
    expect([...tensor(sd, 'base').data]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(tensor(sd, 'transposed').shape).toEqual([4, 3]);
    expect([...tensor(sd, 'transposed').data]).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect([...tensor(sd, 'sliced').data]).toEqual([5, 6, 7, 9, 10, 11]);
    expect([...tensor(sd, 'expanded').data]).toEqual([10, 11, 10, 11, 10, 11]);
  });

  it('converts float16, bfloat16, float64 and integer storages (protocol 4 pickle)', () => {
    const sd = readCheckpoint(fixture('dtypes.pt'), 'dtypes.pt');
    const half = tensor(sd, 'half');
    expect([half.dtype, half.shape]).toEqual(['f16', [2, 3]]);
    expect([...half.data]).toEqual([1, -2, 0.5, 65504, 2 ** -24, -0]);
    expect(Object.is(half.data[5], -0)).toBe(true);
    expect(tensor(sd, 'bf16')).toMatchObject({ dtype: 'bf16', data: new Float32Array([1, -3.5, 2 ** 100]) });
    expect(tensor(sd, 'double')).toMatchObject({ dtype: 'f64', data: new Float32Array([0.1, -1e-3]) });
    expect(tensor(sd, 'int')).toMatchObject({ dtype: 'i32', data: new Float32Array([-7, 123456]) });
    expect(tensor(sd, 'count')).toEqual({ dtype: 'i64', shape: [], data: new Float32Array([2 ** 40]) });
  });
});

describe('malicious checkpoints', () => {
  it.each([
    ['evil_os_system.pt', 'os.system', '/tmp/polyc-import-pwned-os-system'],
    ['evil_eval.pt', 'builtins.eval', '/tmp/polyc-import-pwned-eval'],
  ])('refuses %s without running its payload', (file, global, marker) => {
    rmSync(marker, { force: true });
    const d = diagnosticOf(() => readCheckpoint(fixture(file), file));
    expect(d.code).toBe('E0602');
    expect(d.message).toContain(global);
    expect(d.message).toContain(file);
    // The payload would have created the marker file.
    expect(existsSync(marker)).toBe(false);
  });
});

/** Rewrites one entry of a zip fixture (fflate writes the new archive). */
function editZip(name: string, edit: (files: Record<string, Uint8Array>) => void): Uint8Array {
  const files = unzipSync(fixture(name));
  edit(files);
  return zipSync(files, { level: 0 });
}

describe('corrupt and foreign files', () => {
  it('says a cut-off torch.save file is truncated', () => {
    const d = diagnosticOf(() => readCheckpoint(fixture('truncated.pt'), 'truncated.pt'));
    expect(d.code).toBe('E0601');
    expect(d.message).toMatch(/truncated\.pt: .*truncated/);
  });

  it('names both expected formats for a wrong magic number', () => {
    const d = diagnosticOf(() => readCheckpoint(fixture('not_a_checkpoint.pt'), 'not_a_checkpoint.pt'));
    expect(d.code).toBe('E0601');
    expect(d.message).toContain('torch.save zip');
    expect(d.message).toContain('safetensors');
    expect(d.message).toContain('89 50 4e 47');
  });

  it('rejects empty files and pre-1.6 bare pickles', () => {
    expect(diagnosticOf(() => readCheckpoint(new Uint8Array(0), 'empty.pt')).code).toBe('E0601');
    const legacy = diagnosticOf(() =>
      readCheckpoint(bytesOf('\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.'), 'old.pt'),
    );
    expect(legacy).toMatchObject({ code: 'E0601', message: expect.stringContaining('PyTorch 1.6') });
  });

  it('reports a storage shorter than its tensor as E0608', () => {
    const bytes = editZip('small.pt', (f) => {
      f['small/data/0'] = f['small/data/0']!.subarray(0, 10);
    });
    const d = diagnosticOf(() => readCheckpoint(bytes, 'short.pt'));
    expect(d.code).toBe('E0608');
    expect(d.message).toContain('conv.weight');
  });

  it('reports a missing storage as E0608', () => {
    const bytes = editZip('small.pt', (f) => {
      delete f['small/data/1'];
    });
    expect(diagnosticOf(() => readCheckpoint(bytes, 'x.pt'))).toMatchObject({
      code: 'E0608',
      message: expect.stringContaining('small/data/1'),
    });
  });

  it('reads deflate-compressed entries too', () => {
    const files = unzipSync(fixture('small.pt'));
    const sd = readCheckpoint(zipSync(files, { level: 9 }), 'deflated.pt');
    expect([...tensor(sd, 'conv.bias').data]).toEqual([0.25, -0.75]);
  });

  it('recognises zips that are not torch.save files', () => {
    const torchScript = editZip('small.pt', (f) => {
      f['small/constants.pkl'] = bytesOf('\x80\x02).');
    });
    expect(diagnosticOf(() => readCheckpoint(torchScript, 'x.pt')).message).toContain('TorchScript');
    const other = zipSync({ 'readme.txt': bytesOf('hi') });
    expect(diagnosticOf(() => readCheckpoint(other, 'x.pt'))).toMatchObject({
      code: 'E0601',
      message: expect.stringContaining('data.pkl'),
    });
  });

  it.each(['small.pt', 'dtypes.pt', 'small.safetensors'])(
    'gives a diagnostic for every truncation of %s',
    (file) => {
      const bytes = fixture(file);
      for (let n = 0; n < bytes.length; n++) {
        expect(() => readCheckpoint(bytes.subarray(0, n), file)).toThrow(DiagnosticError);
      }
    },
  );

  it.each(['small.pt', 'nested_state_dict.pt', 'small.safetensors'])(
    'survives random corruption of %s',
    (file) => {
      const bytes = fixture(file);
      let seed = 42;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      for (let trial = 0; trial < 1500; trial++) {
        const bad = bytes.slice();
        for (let k = 0; k < 1 + rand(3); k++) bad[rand(bad.length)] = rand(256);
        try {
          readCheckpoint(bad, file);
        } catch (e) {
          expect(e).toBeInstanceOf(DiagnosticError);
        }
      }
    },
  );
});
