import { readFileSync } from 'node:fs';
import { type Diagnostic, DiagnosticError } from '../../compiler/src/diagnostics/diagnostic.js';

/** Runs `fn`, which must throw exactly one diagnostic (never a raw exception), and returns it. */
export function diagnosticOf(fn: () => unknown): Diagnostic {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof DiagnosticError)) throw e;
    if (e.diagnostics.length !== 1) throw new Error(`expected one diagnostic, got ${e.message}`);
    return e.diagnostics[0]!;
  }
  throw new Error('expected a DiagnosticError, but nothing was thrown');
}

export function fixture(name: string): Uint8Array {
  return readFileSync(new URL(`../fixtures/checkpoints/${name}`, import.meta.url));
}

export function golden(path: string): Uint8Array {
  return readFileSync(new URL(`../golden/${path}`, import.meta.url));
}

/** Bytes from a string of single-byte characters, for hand-written pickles. */
export function bytesOf(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}
