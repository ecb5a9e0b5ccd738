import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { passesDoc } from '../compiler/src/passes/doc.js';

/**
 * Writes docs/passes.md (`npm run docs:passes`): the part generated from the registry, then the
 * hand-written sections already in the file, from HAND_WRITTEN on (test/passes/docs.test.ts
 * checks both).
 */
const HAND_WRITTEN = '\n## Writing a pass test\n';
const old = existsSync('docs/passes.md') ? readFileSync('docs/passes.md', 'utf8') : '';
const at = old.indexOf(HAND_WRITTEN);
writeFileSync('docs/passes.md', passesDoc() + (at < 0 ? '' : old.slice(at)));
console.log('wrote docs/passes.md');
