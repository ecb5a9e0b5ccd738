import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers.js';

/** `polyc opt`: textual IR through passes, like mlir-opt. */

const dir = mkdtempSync(join(tmpdir(), 'polyc-opt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CONV_BN = 'test/passes/fold-batchnorm/conv-bn.ir';

function ir(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('polyc opt', () => {
  it('without passes prints the IR it read, unchanged', async () => {
    const r = await cli('opt', 'test/ir/golden/tiny.ir');
    expect(r.code).toBe(0);
    expect(r.out).toBe(readFileSync('test/ir/golden/tiny.ir', 'utf8'));
  });

  it('round-trips what polyc inspect printed', async () => {
    const inspected = await cli('inspect', 'examples/cpolynext_lr.poly', '--set', 'init_channels=16');
    expect(inspected.code).toBe(0);
    const r = await cli('opt', ir('lr.ir', inspected.out));
    expect(r.code).toBe(0);
    expect(r.out).toBe(inspected.out);
  });

  it('runs the passes it is given', async () => {
    const before = readFileSync(CONV_BN, 'utf8');
    expect(before).toContain('channel_bn(');
    const r = await cli('opt', CONV_BN, '--passes=fold-batchnorm,dce', '--verify-each');
    expect(r.code).toBe(0);
    expect(r.out).not.toBe(before);
    expect(r.out).not.toContain('channel_bn(');
    expect(r.out).toContain('rsqrt(');
  });

  it('--strip-locations drops loc(...) and scope', async () => {
    const r = await cli('opt', CONV_BN, '--strip-locations');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^module m batch B \{/);
    expect(r.out).not.toContain('loc(');
    expect(r.out).not.toContain('scope');
  });

  it('-o writes the file; --timing and --print-ir-after go to stderr', async () => {
    const out = join(dir, 'out.ir');
    const r = await cli(
      'opt',
      CONV_BN,
      '--passes=fold-batchnorm,dce',
      '-o',
      out,
      '--timing',
      '--print-ir-after=dce',
    );
    expect(r.code).toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toContain('pass timing:');
    expect(r.err).toContain('// ----- IR after dce -----');
    expect(readFileSync(out, 'utf8')).toBe((await cli('opt', CONV_BN, '--passes=fold-batchnorm,dce')).out);
  });

  it('malformed IR is E0801 at file:line:col with the line', async () => {
    const bad = ir(
      'bad.ir',
      'module m batch B {\n  %0 = input {name="x"} : f32[B,2]\n  %1 = bogus(%0) : f32[B,2]\n}\n',
    );
    const r = await cli('opt', bad);
    expect(r.code).toBe(1);
    expect(r.err).toContain("error[E0801]: unknown op kind 'bogus'");
    expect(r.err).toContain(`--> ${bad}:3:8`);
    expect(r.err).toContain('3 |   %1 = bogus(%0) : f32[B,2]');
    expect(r.err).toMatch(/\| {8}\^{5}/);
  });

  it('IR that reads but does not verify is E0802', async () => {
    const r = await cli(
      'opt',
      ir(
        'invalid.ir',
        'module m batch B {\n  %0 = input {name="x"} : f32[B,2]\n  %1 = add(%0, %0) : f32[B,3]\n  return %1\n}\n',
      ),
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[E0802]');
  });

  it('a negative axis reads (syntax) but is E0802: the IR stores normalised axes', async () => {
    const r = await cli(
      'opt',
      ir(
        'negative-axis.ir',
        'module m batch B {\n  %0 = input {name="x"} : f32[B,2,3,4]\n  %1 = slice(%0) {axis=-1, start=0, end=2} : f32[B,2,3,2]\n  return %1\n}\n',
      ),
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'error[E0802]: %1 = slice: axis -1 of slice must be in [0, 4): the IR stores normalised axes',
    );
  });

  it('an unknown pass is E0705 with a suggestion; other mistakes are coded too', async () => {
    const pass = await cli('opt', CONV_BN, '--passes=fold-batchnrom');
    expect(pass.code).toBe(1);
    expect(pass.err).toContain("error[E0705]: unknown pass 'fold-batchnrom'; did you mean 'fold-batchnorm'?");
    const missing = await cli('opt', join(dir, 'missing.ir'));
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('error[E0702]');
    const two = await cli('opt', CONV_BN, CONV_BN);
    expect(two.code).toBe(1);
    expect(two.err).toContain('error[E0701]: expected one IR file');
  });
});
