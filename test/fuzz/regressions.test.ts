import { describe, expect, it } from 'vitest';
import { KNOWN_IR, KNOWN_NPY, KNOWN_POLY } from './known.js';
import { expectHandled } from './oracle.js';
import { runIr, runNpy, runPoly } from './targets.js';

// Every failure the fuzzers found, at its minimal input (test/fuzz/known.ts): each must now end in a
// coded diagnostic (or, where `ends` says so, succeed). The slow ones (exponential work, amplifying checkpoints) run in campaign.test.ts.

describe('fuzz regressions', () => {
  it.each(KNOWN_POLY.map((c) => [c.found, c] as const))('.poly: %s', (_, c) => {
    const outcome = runPoly(c);
    expectHandled(outcome);
    expect(outcome.kind).toBe(c.ends ?? 'diagnostic');
  });

  it.each(KNOWN_IR.map((c) => [c.found, c] as const))('IR text: %s', (_, c) => {
    const outcome = runIr(c);
    expectHandled(outcome);
    expect(outcome.kind).toBe('diagnostic');
  });

  it.each(KNOWN_NPY.map((c) => [c.found, c] as const))('.npy input: %s', (_, c) => {
    const outcome = runNpy(c);
    expectHandled(outcome);
    expect(outcome.kind).toBe('diagnostic');
  });
});
