import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optimizeText } from '../../compiler/src/driver/opt.js';
import { verifyModule } from '../../compiler/src/ir/verify.js';
import { PASSES } from '../../compiler/src/passes/registry.js';
import { fileCheck } from './filecheck.js';
import { compareInterpreted, discoverIrTests, readIrTest } from './ir-test.js';

/**
 * Every `.ir` test file under test/passes/: its RUN line through `optimizeText` (the code behind
 * `polyc opt`), its CHECK lines against the printed result, the result verified, and the
 * interpreter's outputs before and after compared on random inputs and parameters. A file with an
 * `X.expected.ir` beside it is also compared with that full snapshot (`vitest -u` rewrites it).
 */

const FILES = discoverIrTests();

describe.each(FILES)('%s', (file) => {
  it('RUN, CHECK, verify, interpret', async () => {
    const t = readIrTest(file);
    const r = optimizeText(t.source, file, { passes: t.passes, locations: t.locations, verifyEach: true });
    expect(verifyModule(r.module).map((d) => d.message)).toEqual([]);
    const failure = fileCheck(t.checks, r.text, file);
    if (failure !== null) expect.fail(`${failure}\n(output of: polyc opt ${file} --passes=${t.passes})`);
    const numeric = compareInterpreted(r.input, r.module);
    if (numeric !== null) expect.fail(`${file}: the passes changed what the module computes: ${numeric}`);
    const expected = file.replace(/\.ir$/, '.expected.ir');
    if (existsSync(expected)) await expect(r.text).toMatchFileSnapshot(resolve(expected));
  });
});

describe('pass test coverage', () => {
  const dirs = new Set(
    readdirSync('test/passes', { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name),
  );
  it.each(PASSES.map((p) => p.name))('%s has a directory of test files that run it', (name) => {
    expect(dirs.has(name), `test/passes/${name}/`).toBe(true);
    const runs = FILES.filter((f) => f.startsWith(`test/passes/${name}/`)).map((f) => readIrTest(f).passes);
    expect(runs.some((p) => p.split(',').includes(name))).toBe(true);
  });

  // A fold or fusion must be shown not to fire where it does not apply: files named `no-*.ir`.
  it.each(PASSES.map((p) => p.name).filter((n) => !['canonicalize', 'cse', 'dce'].includes(n)))(
    '%s has a negative case (no-*.ir)',
    (name) => {
      expect(FILES.some((f) => f.startsWith(`test/passes/${name}/no-`))).toBe(true);
    },
  );
});
