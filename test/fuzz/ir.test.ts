import { test } from '@fast-check/vitest';
import { describe } from 'vitest';
import { deepIr, mutatedIr, validIr } from './arbitraries/ir.js';
import { expectHandled, expectOk, SEED } from './oracle.js';
import { runIr } from './targets.js';

describe('fuzz: IR text', { timeout: 180_000 }, () => {
  test.prop([validIr], { seed: SEED, numRuns: 12 })(
    'printed models read, verify, optimise and print back the same',
    (c) => expectOk(runIr(c)),
  );

  test.prop([mutatedIr], { seed: SEED, numRuns: 400 })(
    'token and line edits end in success or E0801/E0802, never an internal error',
    (c) => expectHandled(runIr(c)),
  );

  test.prop([deepIr], { seed: SEED, numRuns: 40 })(
    'deeply nested attributes, types and regions end in a diagnostic, never a stack overflow',
    (c) => expectHandled(runIr(c)),
  );
});
