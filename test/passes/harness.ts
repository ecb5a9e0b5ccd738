import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { printModule } from '../../compiler/src/ir/print.js';
import { readModule } from '../../compiler/src/ir/read.js';
import { verifyModule } from '../../compiler/src/ir/verify.js';
import { PassContext } from '../../compiler/src/passes/pass.js';
import { findPass } from '../../compiler/src/passes/registry.js';

/** Every golden input in `dir`: the `X.ir` files that are not themselves `X.expected.ir`. */
export function goldenInputs(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ir') && !f.endsWith('.expected.ir'))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * MLIR-style file-driven pass tests: registers one test per `X.ir` in `dir` (a path from the repo
 * root, e.g. 'test/passes/dce') that reads it, runs pass `passName` on it, verifies the result and
 * compares its printed form with `X.expected.ir` beside it. `vitest -u` writes the expected files;
 * review them like code.
 */
export function checkPassGolden(passName: string, dir: string): void {
  describe(`${passName}: golden IR in ${dir}`, () => {
    const pass = findPass(passName);
    it('the pass is registered and has golden inputs', () => {
      expect(pass, `no pass named '${passName}' in registry.ts`).toBeDefined();
      expect(goldenInputs(dir)).not.toEqual([]);
    });
    for (const file of goldenInputs(dir)) {
      it(file.slice(dir.length + 1), async () => {
        const input = readModule(readFileSync(file, 'utf8'), file);
        expect(verifyModule(input).map((d) => d.message)).toEqual([]);
        const output = pass!.run(input, new PassContext());
        expect(verifyModule(output).map((d) => d.message)).toEqual([]);
        // Absolute, so that the expected file sits beside its input whichever test file calls this.
        await expect(printModule(output)).toMatchFileSnapshot(resolve(file.replace(/\.ir$/, '.expected.ir')));
      });
    }
  });
}
