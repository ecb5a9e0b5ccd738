import { CODES } from './codes.js';
import type { Diagnostic, Span } from './diagnostic.js';

/**
 * Renders a diagnostic the way rustc does: a header with the stable code, the location, the source
 * line with a caret underline, then notes (each with its own excerpt when it has a location).
 */
export function renderDiagnostic(d: Diagnostic, sources: ReadonlyMap<string, string>): string {
  const lines = [`${d.severity}[${d.code}]: ${d.message}`];
  if (d.span) lines.push(...excerpt(d.span, sources));
  for (const n of d.notes) {
    lines.push(`  = note: ${n.message}`);
    if (n.span) lines.push(...excerpt(n.span, sources));
  }
  return lines.join('\n');
}

export function renderDiagnostics(ds: readonly Diagnostic[], sources: ReadonlyMap<string, string>): string {
  const errors = ds.filter((d) => d.severity === 'error').length;
  const body = ds.map((d) => renderDiagnostic(d, sources)).join('\n\n');
  return errors > 0 ? `${body}\n\n${errors} error${errors === 1 ? '' : 's'}` : body;
}

function excerpt(span: Span, sources: ReadonlyMap<string, string>): string[] {
  const out = [`  --> ${span.file}:${span.line}:${span.col}`];
  const text = sources.get(span.file);
  const line = text?.split('\n')[span.line - 1];
  if (line === undefined) return out;
  const gutter = String(span.line).length;
  const pad = ' '.repeat(gutter);
  const width = Math.max(1, Math.min(span.length, line.length - span.col + 1));
  out.push(`${pad} |`);
  out.push(`${span.line} | ${line.replace(/\t/g, ' ')}`);
  out.push(`${pad} | ${' '.repeat(Math.max(0, span.col - 1))}${'^'.repeat(width)}`);
  return out;
}

/** One line per code, for `polyc codes` and docs/diagnostics.md. */
export function listCodes(): string[] {
  return Object.entries(CODES).map(([code, summary]) => `${code}  ${summary}`);
}
