import { fc, test } from '@fast-check/vitest';
import { describe } from 'vitest';
import {
  deepProgram,
  extremeSettings,
  mutatedProgram,
  validProgram,
  workProgram,
} from './arbitraries/poly.js';
import { expectHandled, expectOk, SEED } from './oracle.js';
import { runPoly } from './targets.js';

// Properties of the front end on generated .poly programs (test/fuzz/arbitraries/poly.ts); the
// oracle is test/fuzz/targets.ts. The full campaign (`npm run fuzz`) runs the same generators.

describe('fuzz: .poly programs', { timeout: 180_000 }, () => {
  test.prop([validProgram], { seed: SEED, numRuns: 120 })(
    'valid programs build, round-trip through IR text, and the passes keep their results',
    (c) => expectOk(runPoly(c)),
  );

  test.prop([mutatedProgram], { seed: SEED, numRuns: 700 })(
    'token edits and bad settings end in success or diagnostics',
    (c) => expectHandled(runPoly(c)),
  );

  test.prop([deepProgram], { seed: SEED, numRuns: 150 })(
    'deep nesting of every construct ends in success or a diagnostic, never a stack overflow',
    (c) => expectHandled(runPoly(c)),
  );

  test.prop([fc.oneof(workProgram(false), extremeSettings)], { seed: SEED, numRuns: 120 })(
    'loops, lists, strings and settings at extreme sizes end in success or a diagnostic',
    (c) => expectHandled(runPoly(c)),
  );
});
