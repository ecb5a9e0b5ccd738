import type { Code } from './codes.js';

/** A position in a source file; `line` and `col` are 1-based, `offset` 0-based. */
export interface Span {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Number of characters covered on `line` (at least 1). */
  readonly length: number;
}

export interface Note {
  readonly message: string;
  readonly span?: Span;
}

export type Severity = 'error' | 'warning';

/** A user-facing problem. Every diagnostic has a stable code listed in `codes.ts`. */
export interface Diagnostic {
  readonly code: Code;
  readonly severity: Severity;
  readonly message: string;
  readonly span?: Span;
  readonly notes: readonly Note[];
}

export function error(code: Code, message: string, span?: Span, notes: readonly Note[] = []): Diagnostic {
  return span === undefined
    ? { code, severity: 'error', message, notes }
    : { code, severity: 'error', message, span, notes };
}

export function note(message: string, span?: Span): Note {
  return span === undefined ? { message } : { message, span };
}

/**
 * Thrown inside the compiler to abort the current unit of work with user-facing diagnostics.
 * Entry points (driver, importers) catch it and return the diagnostics; it never escapes to the CLI
 * as a stack trace.
 */
export class DiagnosticError extends Error {
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[]) {
    super(diagnostics.map((d) => `${d.code}: ${d.message}`).join('\n'));
    this.name = 'DiagnosticError';
    this.diagnostics = diagnostics;
  }
}

/** Throws a single diagnostic as a `DiagnosticError`. */
export function fail(code: Code, message: string, span?: Span, notes: readonly Note[] = []): never {
  throw new DiagnosticError([error(code, message, span, notes)]);
}

/** A compiler bug: never caused by user input. The CLI maps it to exit code 2. */
export class InternalError extends Error {
  constructor(message: string) {
    super(`internal compiler error: ${message}`);
    this.name = 'InternalError';
  }
}

export function assertNever(x: never): never {
  throw new InternalError(`unexpected value ${JSON.stringify(x)}`);
}
