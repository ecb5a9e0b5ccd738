import type { Pass } from './pass.js';

/**
 * Every pass polyc has, in alphabetical order. This is the one place a new pass is registered;
 * `pipeline.ts` decides the default order.
 */
export const PASSES: readonly Pass[] = [];

export function findPass(name: string): Pass | undefined {
  return PASSES.find((p) => p.name === name);
}
