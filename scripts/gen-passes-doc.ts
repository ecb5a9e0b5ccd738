import { writeFileSync } from 'node:fs';
import { passesDoc } from '../compiler/src/passes/doc.js';

/** Writes docs/passes.md (`npm run docs:passes`). */
writeFileSync('docs/passes.md', passesDoc());
console.log('wrote docs/passes.md');
