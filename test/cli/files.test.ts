import { spawnSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeNpy } from '../../compiler/src/driver/npy.js';
import { cli } from '../helpers.js';
import { expandedAliases } from '../import/hostile.js';

const dir = mkdtempSync(join(tmpdir(), 'polyc-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LR = ['examples/cpolynext_lr.poly', '--set', 'init_channels=16'];
const WEIGHTS = ['--weights', 'test/golden/cpolynext_lr_small/weights.pt'];
const MIB = 1 << 20;

function path(name: string): string {
  return join(dir, name);
}

function write(name: string, bytes: Uint8Array | string): string {
  writeFileSync(path(name), bytes);
  return path(name);
}

function fifo(name: string): string {
  rmSync(path(name), { force: true });
  expect(spawnSync('mkfifo', [path(name)]).status).toBe(0);
  return path(name);
}

/** A .npy file with the given header text (version 1 or 2) and `body` bytes of data. */
function npy(header: string, body: number, major = 1): Uint8Array {
  const h = new TextEncoder().encode(header);
  const start = major === 1 ? 10 : 12;
  const out = new Uint8Array(start + h.length + body);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, h.length, true);
  else view.setUint32(8, h.length, true);
  out.set(h, start);
  return out;
}

const header = (shape: string, descr = '<f4', fortran = 'False'): string =>
  `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;
const IMAGE = 3 * 32 * 32 * 4;

/** Runs `polyc run` on an input file: exit 1 with `code` naming the file, never exit 2. */
async function expectInputError(file: string, code: string, text: string, ...extra: string[]): Promise<void> {
  const r = await cli('run', ...LR, ...WEIGHTS, '--input', file, ...extra);
  expect(r.err).toContain(`error[${code}]`);
  expect(r.err).toContain(file);
  expect(r.err).toContain(text);
  expect(r.code).toBe(1);
}

describe('.npy and raw inputs (fuzz campaign reproducers)', () => {
  it.each([
    // An 11-byte file with the magic used to read its header length out of bounds (exit 2).
    ['eleven bytes', new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 5, 0, 0]), 'claims 5 bytes'],
    ['nine bytes', new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 5]), 'too short for a header'],
    ['version 2 cut short', new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 5, 0]), 'too short'],
    [
      'an unknown version',
      npy(header('(1, 3, 32, 32)'), IMAGE, 1).map((b, i) => (i === 6 ? 9 : b)),
      'version 9',
    ],
    ['a negative dimension', npy(header('(-3, 3, 32, 32)'), IMAGE), "dimension '-3'"],
    // Used to be accepted as batch 1.5 and crash the interpreter.
    ['a fractional dimension', npy(header('(1.5, 3, 32, 32)'), 2 * IMAGE), "dimension '1.5'"],
    ['an exponent', npy(header('(1e0, 3, 32, 32)'), IMAGE), "dimension '1e0'"],
    [
      'a header length past the end',
      npy(header('(1, 3, 32, 32)'), 0).map((b, i) => (i === 9 ? 0x7f : b)),
      'claims',
    ],
    ['an unknown dtype', npy(header('(1, 3, 32, 32)', '<i4'), IMAGE), "dtype '<i4'"],
    ['a big-endian dtype', npy(header('(1, 3, 32, 32)', '>f4'), IMAGE), "dtype '>f4'"],
    ['fortran order', npy(header('(1, 3, 32, 32)', '<f4', 'True'), IMAGE), 'Fortran-order'],
    [
      'a shape product overflowing',
      npy(header('(9007199254740991, 9007199254740991, 32, 32)'), 16),
      'truncated?',
    ],
    [
      'a dimension beyond 2^53',
      npy(header('(99999999999999999999, 3, 32, 32)'), 16),
      'not a non-negative integer',
    ],
    ['data shorter than declared', npy(header('(1, 3, 32, 32)'), IMAGE - 1), `needs at least ${IMAGE} bytes`],
    ['data longer than declared', npy(header('(1, 3, 32, 32)'), IMAGE + 1), `${IMAGE + 1} follow`],
    ['a header that is not a dict', npy("['descr', '<f4']", IMAGE), 'not a dict'],
    [
      'an unknown key',
      npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 32, 32), 'x': 1}", IMAGE),
      'not the dict numpy writes',
    ],
    [
      'a repeated key',
      npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 32, 32)}", IMAGE),
      'twice',
    ],
    ['a missing key', npy("{'descr': '<f4', 'shape': (1, 3, 32, 32)}", IMAGE), 'needs'],
    ['a shape that is not a tuple', npy(header('(3)'), 12), 'not a tuple'],
    [
      'a header that is not text',
      npy(header('(1, 3, 32, 32)'), IMAGE, 3).map((b, i) => (i === 14 ? 0xff : b)),
      'not valid text',
    ],
  ])('%s is E0702 naming the file', async (name, bytes, text) => {
    await expectInputError(write(`${name.replaceAll(' ', '-')}.npy`, bytes), 'E0702', text);
  });

  it('a zero batch or a shape the model does not take is E0703 naming the file', async () => {
    await expectInputError(
      write('zero.npy', npy(header('(0, 3, 32, 32)'), 0)),
      'E0703',
      'has shape [0, 3, 32, 32]',
    );
    await expectInputError(
      write('chw.npy', npy(header('(3, 32, 32)'), IMAGE)),
      'E0703',
      'has shape [3, 32, 32]',
    );
    const both = write('both.npy', writeNpy([1, 3, 32, 32], new Float32Array(3 * 32 * 32)));
    await expectInputError(both, 'E0703', 'disagrees', '--input-shape', '2,3,32,32');
  });

  it('reads a version 2 header and a one-element tuple', async () => {
    const v2 = write('v2.npy', npy(header('(1, 3, 32, 32)'), IMAGE, 2));
    const r = await cli('run', ...LR, ...WEIGHTS, '--input', v2);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // (3,) is a valid header; the model then refuses the rank.
    await expectInputError(write('one.npy', npy(header('(3,)'), 12)), 'E0703', 'has shape [3]');
  });

  it('raw inputs: a length not a multiple of 4 is E0702, a count off --input-shape E0703', async () => {
    await expectInputError(
      write('odd.f32', new Uint8Array(IMAGE + 2)),
      'E0702',
      'not a whole number',
      '--input-shape',
      '1,3,32,32',
    );
    await expectInputError(
      write('short.f32', new Uint8Array(IMAGE - 4)),
      'E0703',
      '--input-shape [1, 3, 32, 32] needs 3072',
      '--input-shape',
      '1,3,32,32',
    );
  });
});

describe('input files that are not regular files', () => {
  it.each([
    ['/dev/zero', 'a character device'],
    ['test', 'a directory'],
  ])('--weights %s is E0702 before anything is read', async (file, kind) => {
    const r = await cli('run', ...LR, '--weights', file);
    expect(r.err).toContain(`error[E0702]: cannot read '${file}': it is ${kind}, not a regular file`);
    expect(r.code).toBe(1);
  });

  it('a fifo is refused at once, not waited on', async () => {
    const f = fifo('weights.fifo');
    const started = Date.now();
    const r = await cli('run', ...LR, '--weights', f, '--input', f);
    expect(r.err).toContain('it is a fifo (named pipe), not a regular file');
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a symbolic link to a regular file is read', async () => {
    const link = path('weights-link.pt');
    symlinkSync(join(process.cwd(), 'test/golden/cpolynext_lr_small/weights.pt'), link);
    const r = await cli('export-onnx', ...LR, '--weights', link, '-o', path('via-link.onnx'));
    expect(r.code).toBe(0);
  });
});

describe('--max-file-size', () => {
  it('accepts a file of exactly the limit and refuses one byte more with E0708', async () => {
    const exact = write('exact.pt', new Uint8Array(MIB));
    const r = await cli('run', ...LR, '--weights', exact, '--max-file-size', '1');
    // Read, then found not to be a checkpoint.
    expect(r.err).toContain('error[E0601]');
    const over = write('over.pt', new Uint8Array(MIB + 1));
    const o = await cli('run', ...LR, '--weights', over, '--max-file-size', '1');
    expect(o.err).toContain(`error[E0708]: '${over}' is ${MIB + 1} bytes, over the limit of 1 MiB`);
    expect(o.code).toBe(1);
    // --input is bounded alike, and so are compile and export-onnx.
    const i = await cli('run', ...LR, '--input', over, '--max-file-size', '1');
    expect(i.err).toContain('error[E0708]');
    const e = await cli(
      'export-onnx',
      ...LR,
      '--weights',
      over,
      '-o',
      path('x.onnx'),
      '--max-file-size',
      '1',
    );
    expect(e.err).toContain('error[E0708]');
    const c = await cli('compile', ...LR, '--weights', over, '-o', path('pkg-over'), '--max-file-size', '1');
    expect(c.err).toContain('error[E0708]');
  });

  it('text inputs (.poly, IR, labels, tune caches) are bounded at 64 MiB without being read', async () => {
    // Sparse: the size is there, the bytes are not.
    const big = path('huge.poly');
    writeFileSync(big, '');
    truncateSync(big, 64 * MIB + 1);
    const started = Date.now();
    const checks = [
      await cli('check', big),
      await cli('opt', big),
      await cli('compile', ...LR, '--labels', big, '-o', path('pkg-labels')),
      await cli('run', ...LR, '--backend', 'webgpu', '--tune-cache', big),
    ];
    for (const r of checks) {
      expect(r.err).toContain(`error[E0708]: '${big}' is ${64 * MIB + 1} bytes, over the limit of 64 MiB`);
      expect(r.err).toContain('read whole');
      expect(r.code).toBe(1);
    }
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it.each(['0', '-1', '1.5', 'big', '99999999'])('--max-file-size %s is a usage error', async (v) => {
    const r = await cli('run', ...LR, `--max-file-size=${v}`);
    expect(r.err).toContain('error[E0701]: --max-file-size must be a whole number of MiB');
    expect(r.code).toBe(1);
  });
});

describe('hostile checkpoints through the CLI', () => {
  it('2,000 expanded aliases of one storage are E0607 at once', async () => {
    const file = write('alias.pt', expandedAliases(2000, MIB).bytes);
    const started = Date.now();
    const r = await cli('run', ...LR, '--weights', file);
    expect(r.err).toContain('error[E0607]');
    expect(r.err).toContain('2000 keys unexpected');
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('output paths that are not regular files are refused, not replaced', () => {
  /** Every command's file output, as arguments after the output path. */
  const writers: [string, (out: string) => string[]][] = [
    ['run -o', (out) => ['run', ...LR, '-o', out]],
    ['export-onnx -o', (out) => ['export-onnx', ...LR, '-o', out]],
    ['inspect --json', (out) => ['inspect', ...LR, '--json', out]],
    ['inspect --html', (out) => ['inspect', ...LR, '--html', out]],
    ['inspect --dot', (out) => ['inspect', ...LR, '--dot', out]],
    ['opt -o', (out) => ['opt', 'test/ir/golden/tiny.ir', '-o', out]],
    ['tune --cache', (out) => ['tune', ...LR, '--cache', out]],
  ];

  it.each(writers)('%s: a symlink (to a file elsewhere, or dangling) is E0704 and stays', async (_, args) => {
    const target = write('target.txt', 'keep me');
    const link = path('out-link');
    rmSync(link, { force: true });
    symlinkSync(target, link);
    const r = await cli(...args(link));
    expect(r.err).toContain(`error[E0704]: cannot write '${link}': it exists and is a symbolic link`);
    expect(r.code).toBe(1);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('keep me');
    const dangling = path('out-dangling');
    rmSync(dangling, { force: true });
    symlinkSync(path('nowhere'), dangling);
    expect((await cli(...args(dangling))).err).toContain('is a symbolic link');
    expect(readlinkSync(dangling)).toBe(path('nowhere'));
  });

  it.each(writers)('%s: a fifo, /dev/null or a directory is E0704', async (_, args) => {
    const f = fifo('out.fifo');
    expect((await cli(...args(f))).err).toContain('it exists and is a fifo (named pipe)');
    expect(lstatSync(f).isFIFO()).toBe(true);
    expect((await cli(...args('/dev/null'))).err).toContain(
      "cannot write '/dev/null': it exists and is a character device",
    );
    const d = path('a-dir');
    mkdirSync(d, { recursive: true });
    const r = await cli(...args(d));
    expect(r.err).toContain('it exists and is a directory');
    expect(r.code).toBe(1);
  });

  it('compile -o: a symlinked directory, a file or a device is E0704', async () => {
    const real = path('real-pkg');
    mkdirSync(real, { recursive: true });
    const link = path('pkg-link');
    rmSync(link, { force: true });
    symlinkSync(real, link);
    const r = await cli('compile', ...LR, '-o', link);
    expect(r.err).toContain(`error[E0704]: cannot write '${link}': it exists and is a symbolic link`);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    const file = write('pkg-file', 'x');
    expect((await cli('compile', ...LR, '-o', file)).err).toContain(
      'it exists and is a regular file; polyc only replaces a directory there',
    );
    expect((await cli('compile', ...LR, '-o', '/dev/null')).err).toContain('is a character device');
  });

  it('a regular file is still replaced', async () => {
    const out = write('logits.npy', 'old');
    const r = await cli('run', ...LR, ...WEIGHTS, '-o', out);
    expect(r.code).toBe(0);
    expect(readFileSync(out).subarray(0, 6)).toEqual(Buffer.from('\x93NUMPY', 'latin1'));
  });
});
