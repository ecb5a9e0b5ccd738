import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpy } from '../../compiler/src/driver/npy.js';
import { cli } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'polyc-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LR = ['examples/cpolynext_lr.poly', '--set', 'init_channels=16'];
const LR_RUN = [
  'run',
  ...LR,
  '--weights',
  'test/golden/cpolynext_lr_small/weights.pt',
  '--input',
  'test/golden/cpolynext_lr_small/input.f32',
  '--input-shape',
  '3,3,32,32',
];

describe('polyc command line', () => {
  it('prints help and lists commands', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    for (const c of ['check', 'inspect', 'run', 'codes']) expect(r.out).toContain(`  ${c}`);
    expect(r.out).toContain('exit codes');
    const none = await cli();
    expect(none.code).toBe(1);
  });

  it('every command has --help', async () => {
    for (const c of ['check', 'inspect', 'run', 'codes']) {
      const r = await cli(c, '--help');
      expect(r.code, c).toBe(0);
      expect(r.out, c).toContain(`usage: polyc ${c}`);
    }
  });

  it('rejects unknown commands and options with E0701', async () => {
    const a = await cli('compile-all');
    expect(a.code).toBe(1);
    expect(a.err).toContain('error[E0701]');
    const b = await cli('check', 'examples/cpolynext_t.poly', '--sett', 'x=1');
    expect(b.code).toBe(1);
    expect(b.err).toContain('error[E0701]');
  });

  it('check prints parameters and FLOPs', async () => {
    const r = await cli('check', 'examples/cpolynext_t_bn.poly');
    expect(r.code).toBe(0);
    expect(r.out).toContain('params     6,495,599');
    expect(r.out).toMatch(/FLOPs {6}\d+\.\d{3} G per image/);
  });

  it('unknown and malformed settings are coded errors with suggestions', async () => {
    const a = await cli('check', 'examples/cpolynext_t.poly', '--set', 'img_size=64');
    expect(a.code).toBe(1);
    expect(a.err).toContain('error[E0206]');
    expect(a.err).toContain("did you mean 'image_size'?");
    const b = await cli('check', 'examples/cpolynext_t.poly', '--set', 'image_size=big');
    expect(b.code).toBe(1);
    expect(b.err).toContain('error[E0308]');
  });

  it('a missing model file is a coded error, not a stack trace', async () => {
    const r = await cli('check', 'examples/nope.poly');
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[E0702]');
    expect(r.err).not.toMatch(/\bat .*\.js:\d+/);
  });

  it('inspect prints IR that names checkpoint keys and source locations', async () => {
    const r = await cli('inspect', ...LR);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^module cpolynext_lr batch B \{/);
    expect(r.out).toContain('key="cells.7.ops.17.1.weight"');
    expect(r.out).toContain('loc("examples/lib/polynext.poly":');
  });

  it('run writes .npy output and prints the top-5 per image', async () => {
    const out = join(dir, 'logits.npy');
    const r = await cli(...LR_RUN, '--output', out);
    expect(r.code).toBe(0);
    expect(r.out.match(/^image \d: (\d+ \(-?\d\.\d{4}\) {2}){4}\d+ \(-?\d\.\d{4}\)$/gm)).toHaveLength(3);
    const npy = readNpy(new Uint8Array(readFileSync(out)), out);
    expect(npy.shape).toEqual([3, 10]);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('run accepts .npy input with its own shape', async () => {
    const out = join(dir, 'logits.f32');
    await cli(...LR_RUN, '--output', join(dir, 'ref.f32'));
    const input = join(dir, 'in.npy');
    const { writeNpy } = await import('../../compiler/src/driver/npy.js');
    const raw = readFileSync('test/golden/cpolynext_lr_small/input.f32');
    writeFileSync(
      input,
      writeNpy(
        [3, 3, 32, 32],
        new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length)),
      ),
    );
    const r = await cli(
      'run',
      ...LR,
      '--weights',
      'test/golden/cpolynext_lr_small/weights.pt',
      '--input',
      input,
      '-o',
      out,
    );
    expect(r.code).toBe(0);
    expect(readFileSync(out)).toEqual(readFileSync(join(dir, 'ref.f32')));
  });

  it('run reports an input of the wrong shape', async () => {
    const r = await cli(
      'run',
      ...LR,
      '--weights',
      'test/golden/cpolynext_lr_small/weights.pt',
      '--input',
      'test/golden/cpolynext_lr_small/input.f32',
      '--input-shape',
      '3,3,16,64',
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[E0703]');
    expect(r.err).toContain('[3, 3, 16, 64]');
    expect(r.err).toContain('[B, 3, 32, 32]');
  });

  it('run names every mismatched checkpoint key', async () => {
    const r = await cli(...LR_RUN.map((a) => (a === 'init_channels=16' ? 'init_channels=24' : a)));
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[E0607]');
    expect(r.err).toContain('stem.weight: checkpoint [16, 3, 3, 3] vs model [24, 3, 3, 3]');
    expect(r.err).toContain('head.3.weight');
  });

  it('refuses a checkpoint whose pickle calls os.system, and runs nothing', async () => {
    // The fixture's payload would `touch` this file (test/fixtures/checkpoints/make_fixtures.py).
    const marker = '/tmp/polyc-import-pwned-os-system';
    rmSync(marker, { force: true });
    const r = await cli(
      'run',
      ...LR,
      '--weights',
      'test/fixtures/checkpoints/evil_os_system.pt',
      '--input',
      'test/golden/cpolynext_lr_small/input.f32',
      '--input-shape',
      '3,3,32,32',
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[E0602]');
    expect(r.err).toContain('os.system');
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses a file that is not a checkpoint', async () => {
    const r = await cli(
      ...LR_RUN.map((a) => (a.endsWith('weights.pt') ? 'test/fixtures/checkpoints/not_a_checkpoint.pt' : a)),
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[E0601]');
  });

  it('the installed binary runs and uses exit codes (needs `npm run build`)', () => {
    const ok = spawnSync('node', ['bin/polyc.js', 'check', ...LR], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('params     304,906');
    const bad = spawnSync('node', ['bin/polyc.js', 'check', 'test/fixtures/diagnostics/type-errors.poly'], {
      encoding: 'utf8',
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('5 errors');
    expect(execFileSync('node', ['bin/polyc.js', '--version'], { encoding: 'utf8' }).trim()).toMatch(
      /^\d+\.\d+\.\d+$/,
    );
  });
});
