import { readFileSync } from 'node:fs';
import { DiagnosticError } from '../../compiler/src/diagnostics/diagnostic.js';
import { matchCheckpoint, openCheckpoint } from '../../compiler/src/import/checkpoint.js';

/**
 * Run by bounded.test.ts in a child process (node --import tsx), so that its peak memory is its own:
 * loads `argv[2]` against the parameters in `argv[3]` (JSON: expected, ignorable) the way polyc
 * loads weights, and prints one JSON line: the diagnostic code (or null), the bytes of the weights
 * returned, the resident set before loading and its peak, in bytes, and the milliseconds taken.
 */
const [file, spec] = process.argv.slice(2) as [string, string];
const { expected, ignorable } = JSON.parse(readFileSync(spec, 'utf8')) as {
  expected: { key: string; shape: number[] }[];
  ignorable: string[];
};
const bytes = new Uint8Array(readFileSync(file));
const baseRss = process.memoryUsage().rss;
const started = performance.now();
let code: string | null = null;
let weightsBytes = 0;
try {
  const { weights } = matchCheckpoint(expected, ignorable, openCheckpoint(bytes, file));
  for (const w of weights.values()) weightsBytes += w.byteLength;
} catch (e) {
  if (!(e instanceof DiagnosticError)) throw e;
  code = e.diagnostics[0]!.code;
}
const ms = performance.now() - started;
const peakRss = process.resourceUsage().maxRSS * 1024;
process.stdout.write(`${JSON.stringify({ code, weightsBytes, baseRss, peakRss, ms })}\n`);
