import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { passesDoc } from '../../compiler/src/passes/doc.js';
import { PASSES } from '../../compiler/src/passes/registry.js';

/** docs/passes.md is generated from the pass registry and the default pipeline. */
describe('docs/passes.md', () => {
  it('is up to date', () => {
    const onDisk = existsSync('docs/passes.md') ? readFileSync('docs/passes.md', 'utf8') : '';
    expect(onDisk, 'docs/passes.md is out of date: run `npm run docs:passes`').toBe(passesDoc());
  });

  it('lists every pass', () => {
    const doc = passesDoc();
    for (const p of PASSES) expect(doc).toContain(`| \`${p.name}\` |`);
  });
});
