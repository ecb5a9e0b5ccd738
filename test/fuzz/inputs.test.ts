import { test } from '@fast-check/vitest';
import { describe } from 'vitest';
import { mutatedNpy, npyInput, rawInput, validNpy } from './arbitraries/npy.js';
import { expectHandled, expectOk, SEED } from './oracle.js';
import { runNpy, TINY_INPUT } from './targets.js';

describe('fuzz: run inputs (.npy, raw float32)', { timeout: 180_000 }, () => {
  test.prop([validNpy(TINY_INPUT)], { seed: SEED, numRuns: 100 })(
    'well-formed .npy inputs (float32 or float64, any batch) load and run',
    (c) => expectOk(runNpy(c)),
  );

  test.prop([npyInput(TINY_INPUT)], { seed: SEED, numRuns: 600 })(
    '.npy files with odd and lying headers end in success or a diagnostic',
    (c) => expectHandled(runNpy(c)),
  );

  test.prop([mutatedNpy(TINY_INPUT)], { seed: SEED, numRuns: 600 })(
    'truncated and bit-flipped .npy files end in a diagnostic or success',
    (c) => expectHandled(runNpy(c)),
  );

  test.prop([rawInput(TINY_INPUT)], { seed: SEED, numRuns: 200 })(
    'raw float32 with any --input-shape ends in success or a diagnostic',
    (c) => expectHandled(runNpy(c)),
  );
});
