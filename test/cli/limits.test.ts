import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers.js';

/**
 * The fuzz campaign's reproducers of issue 14 through the command line: each was an internal error
 * (exit 2), a crash or minutes of work; each is now a user diagnostic (exit 1) with its code.
 */

const dir = mkdtempSync(join(tmpdir(), 'polyc-limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const model = (stmts: string) => `model m(x: f32[B, 3, 8, 8]) {\n${stmts}\n  return x\n}\n`;

/** Exit 1 with `code` among the diagnostics, and no internal error. */
function expectUserError(r: { code: number; err: string }, code: string): void {
  expect(r.err).not.toContain('internal compiler error');
  expect(r.err).toContain(`error[${code}]`);
  expect(r.code).toBe(1);
}

describe('settings from the command line', () => {
  it.each(['9999999999', '1000000'])('--set layers=%s is refused before the loop runs (E0309)', async (n) => {
    expectUserError(await cli('check', 'examples/cpolynext_t.poly', '--set', `layers=${n}`), 'E0309');
  });

  it('an int setting beyond 2^53 is refused, not rounded (E0308)', async () => {
    const r = await cli('check', 'examples/cpolynext_t.poly', '--set', 'init_channels=99999999999999999999');
    expectUserError(r, 'E0308');
    expect(r.err).toContain('at most 2^53 - 1');
  });

  it('a non-integer for an int setting is refused (E0308)', async () => {
    expectUserError(await cli('check', 'examples/cpolynext_t.poly', '--set', 'init_channels=1.5'), 'E0308');
  });

  it('export-onnx --set init_channels=100000 is a size limit, not an invalid typed array', async () => {
    const out = join(dir, 'huge.onnx');
    const r = await cli(
      'export-onnx',
      'examples/cpolynext_t.poly',
      '--set',
      'init_channels=100000',
      '-o',
      out,
    );
    expectUserError(r, 'E0407');
    expect(existsSync(out)).toBe(false);
  });
});

describe('source', () => {
  it.each(['[0]', '[-1]'])('param(self.w, %s) is E0406 at the shape, not a compiler bug', async (shape) => {
    const r = await cli('check', file('dims.poly', model(`  w = param(self.w, ${shape})`)));
    expectUserError(r, 'E0406');
    expect(r.err).not.toContain('E0802');
  });

  it('a 250-byte file of nested parentheses is E0105, not a stack overflow', async () => {
    expectUserError(
      await cli('check', file('parens.poly', model(`  y = ${'('.repeat(120)}1${')'.repeat(120)}`))),
      'E0105',
    );
  });

  it('exponential recursion is stopped by the step limit (E0309)', async () => {
    const src = `block f(n: int) { if n > 0 { a = f(n - 1)  b = f(n - 1) } return 0 }\n${model('  y = f(40)')}`;
    const r = await cli('check', file('expo.poly', src));
    expectUserError(r, 'E0309');
    expect(r.err).toContain('--limit eval-steps=N');
  });
});

describe('IR text', () => {
  it('5000-deep attribute lists are E0803 from polyc opt, not a stack overflow', async () => {
    const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
    const ir = `module m batch B {\n  %0 = input {name="x", deep=${deep}} : f32[B,4]\n  return %0\n}\n`;
    expectUserError(await cli('opt', file('deep.ir', ir)), 'E0803');
  });
});

describe('--limit', () => {
  const loop = () => file('loop.poly', model('  for i in 0 .. 150000 { }'));

  it('raises a limit: a loop over the default builds with it', async () => {
    expectUserError(await cli('check', loop()), 'E0309');
    const r = await cli('check', loop(), '--limit', 'loop-iterations=200_000');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it('refuses an unknown limit or a bad value (E0701)', async () => {
    expectUserError(await cli('check', loop(), '--limit', 'iterations=5'), 'E0701');
    expectUserError(await cli('check', loop(), '--limit', 'ops=0'), 'E0701');
  });
});

describe('polyc degree on long products', () => {
  it('1000 factors: exact degree and depths', async () => {
    const product = Array(1000).fill('x').join(' * ');
    const r = await cli(
      'degree',
      file('product.poly', `model m(x: f32[B, 3, 4, 4]) {\n  return ${product}\n}\n`),
    );
    expect(r.err).toBe('');
    expect(r.out).toBe(
      'polynomial: yes \u2014 degree 1000 (log2 \u2248 10.0), multiplicative depth 999 as written, 10 balanced\n',
    );
  });
});
