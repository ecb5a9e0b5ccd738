import { test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { loadWeights } from '../../compiler/src/driver/run.js';
import {
  amplifyingCheckpoint,
  hostileCheckpoint,
  mutatedCheckpoint,
  tensorValues,
  validCheckpoint,
} from './arbitraries/checkpoint.js';
import { expectHandled, SEED } from './oracle.js';
import { runCheckpoint, tinyModule, tinyTensors } from './targets.js';

const tensors = tinyTensors();

describe('fuzz: checkpoints', { timeout: 180_000 }, () => {
  test.prop([validCheckpoint(tensors)], { seed: SEED, numRuns: 40 })(
    'valid torch.save zips and safetensors files load every tensor exactly',
    (c) => {
      const weights = loadWeights(tinyModule(), c.bytes, c.name);
      tensors.forEach((t, i) => {
        expect(weights.get(t.key), t.key).toEqual(tensorValues(t, i));
      });
    },
  );

  test.prop([mutatedCheckpoint(tensors)], { seed: SEED, numRuns: 600 })(
    'truncated, bit-flipped and reshaped checkpoints end in success or a diagnostic',
    (c) => expectHandled(runCheckpoint(c)),
  );

  test.prop([hostileCheckpoint], { seed: SEED, numRuns: 300 })(
    'pickles that name or call code (GLOBAL, REDUCE, INST, OBJ, NEWOBJ, STACK_GLOBAL) are refused',
    (c) => {
      const outcome = runCheckpoint(c);
      expectHandled(outcome);
      expect(outcome.kind).toBe('diagnostic');
    },
  );

  // Small amplifiers (up to ~24 MB asked for) in process; the campaign and campaign.test.ts run
  // them at full size in workers with a memory cap.
  test.prop([amplifyingCheckpoint(tensors, 1 / 64)], { seed: SEED, numRuns: 60 })(
    'expanded, aliased, overlapping, shared-stream and lying checkpoints end in a diagnostic or success',
    (c) => expectHandled(runCheckpoint(c)),
  );
});
