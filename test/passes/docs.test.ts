import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { passesDoc } from '../../compiler/src/passes/doc.js';
import { PASSES } from '../../compiler/src/passes/registry.js';

/**
 * docs/passes.md: the part generated from the pass registry and the default pipeline, then the
 * hand-written "Writing a pass test" section (scripts/gen-passes-doc.ts keeps it).
 */
const HAND_WRITTEN = '\n## Writing a pass test\n';

describe('docs/passes.md', () => {
  const onDisk = existsSync('docs/passes.md') ? readFileSync('docs/passes.md', 'utf8') : '';

  it('is up to date', () => {
    const at = onDisk.indexOf(HAND_WRITTEN);
    const generated = at < 0 ? onDisk : onDisk.slice(0, at);
    expect(generated, 'docs/passes.md is out of date: run `npm run docs:passes`').toBe(passesDoc());
  });

  it('keeps the hand-written section on pass tests', () => {
    expect(onDisk).toContain(HAND_WRITTEN);
  });

  it('lists every pass', () => {
    const doc = passesDoc();
    for (const p of PASSES) expect(doc).toContain(`| \`${p.name}\` |`);
  });
});
