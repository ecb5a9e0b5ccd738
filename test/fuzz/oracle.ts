import { expect } from 'vitest';
import type { Outcome } from './targets.js';

/**
 * The fuzz tests' seed: fixed, so that every run of the suite tries the same cases and a failure
 * reproduces. A property that fails prints fast-check's shrunk counterexample and its seed/path.
 */
export const SEED = 1_402_147;

/** The oracle's verdict as an assertion: success or coded diagnostics, never a failure. */
export function expectHandled(outcome: Outcome): void {
  if (outcome.kind === 'failure') expect.fail(`${outcome.reason}: ${outcome.message}`);
}

/** Success, and nothing else (for inputs that are valid by construction). */
export function expectOk(outcome: Outcome): void {
  if (outcome.kind !== 'ok') expect.fail(`expected success, got ${JSON.stringify(outcome)}`);
}
