/**
 * A small FileCheck (after LLVM's): checks printed IR against `// CHECK...:` lines of a test file.
 *
 * Directives, each on a `//` comment line of the test file:
 * - `CHECK: p`       p matches at or after the end of the previous match (rest of that line, or later);
 * - `CHECK-NEXT: p`  p matches on the line right after the previous match;
 * - `CHECK-SAME: p`  p matches on the same line as the previous match, after it;
 * - `CHECK-NOT: p`   p matches nowhere between the previous match and the next positive match (or the
 *                    end of the current label block);
 * - `CHECK-LABEL: p` p is found first, in order, and splits the output into blocks: the checks after
 *                    it match only up to the next label. Labels take no variables.
 * Pattern syntax: literal text (a run of spaces matches any run of spaces or tabs), `{{re}}` a
 * JavaScript regular expression, `[[NAME:re]]` captures what `re` matched as NAME, `[[NAME]]` is the
 * text NAME captured earlier (in an earlier check line, or earlier in the same line). Matching never
 * spans lines.
 *
 * Everything malformed is an error, never a silent pass: an unknown `CHECK-...` directive, an empty
 * pattern, an undefined variable, an invalid regex, a file with no checks.
 */

export type CheckKind = 'CHECK' | 'CHECK-NEXT' | 'CHECK-SAME' | 'CHECK-NOT' | 'CHECK-LABEL';

const KINDS: readonly CheckKind[] = ['CHECK', 'CHECK-NEXT', 'CHECK-SAME', 'CHECK-NOT', 'CHECK-LABEL'];

export interface CheckLine {
  readonly kind: CheckKind;
  readonly pattern: string;
  /** 1-based line in the test file, for messages. */
  readonly line: number;
}

export class FileCheckError extends Error {
  override readonly name = 'FileCheckError';
}

/** Position in the output: a line index and a column in that line. */
interface Pos {
  readonly line: number;
  readonly col: number;
}

interface Match {
  readonly start: Pos;
  readonly end: Pos;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The check lines of a test file. A comment line that mentions a `CHECK` directive but does not
 * spell one exactly (`CHECK-NXT:`, `CHECK :`) is an error, so a typo cannot disable a check.
 */
export function parseChecks(text: string, file: string): CheckLine[] {
  const checks: CheckLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const comment = /^\s*\/\/(.*)$/.exec(raw)?.[1];
    if (comment === undefined) return;
    const m = /^\s*(CHECK[A-Za-z-]*)\s*:(.*)$/.exec(comment);
    if (!m) {
      if (/^\s*CHECK\b/.test(comment))
        throw new FileCheckError(`${file}:${i + 1}: malformed check line: ${raw}`);
      return;
    }
    const kind = m[1] as CheckKind;
    if (!KINDS.includes(kind)) {
      throw new FileCheckError(`${file}:${i + 1}: unknown directive '${m[1]}' (known: ${KINDS.join(', ')})`);
    }
    const pattern = m[2]!.trim();
    if (pattern === '') throw new FileCheckError(`${file}:${i + 1}: ${kind} has an empty pattern`);
    checks.push({ kind, pattern, line: i + 1 });
  });
  return checks;
}

interface Compiled {
  readonly regex: RegExp;
  /** Variables this pattern defines, in order. */
  readonly defines: readonly string[];
}

/** Turns a pattern into a regex, substituting the values of variables defined by earlier checks. */
export function compilePattern(pattern: string, vars: ReadonlyMap<string, string>): Compiled {
  let source = '';
  const defines: string[] = [];
  let rest = pattern;
  const literal = (s: string): string =>
    s
      .split(/[ \t]+/)
      .map((w) => w.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
      .join('[ \\t]+');
  while (rest !== '') {
    const re = rest.indexOf('{{');
    const v = rest.indexOf('[[');
    const next = [re, v].filter((i) => i >= 0);
    if (next.length === 0) {
      source += literal(rest);
      break;
    }
    const at = Math.min(...next);
    source += literal(rest.slice(0, at));
    if (at === re) {
      const close = rest.indexOf('}}', at + 2);
      if (close < 0) throw new FileCheckError(`unterminated '{{' in pattern: ${pattern}`);
      const body = rest.slice(at + 2, close);
      if (body === '') throw new FileCheckError(`empty '{{}}' in pattern: ${pattern}`);
      checkRegex(body, pattern);
      source += `(?:${body})`;
      rest = rest.slice(close + 2);
    } else {
      const close = variableEnd(rest, at + 2);
      if (close < 0) throw new FileCheckError(`unterminated '[[' in pattern: ${pattern}`);
      const body = rest.slice(at + 2, close);
      const colon = body.indexOf(':');
      const name = colon < 0 ? body : body.slice(0, colon);
      if (!NAME.test(name)) throw new FileCheckError(`bad variable name '${name}' in pattern: ${pattern}`);
      if (colon >= 0) {
        const def = body.slice(colon + 1);
        if (def === '') throw new FileCheckError(`variable '${name}' has an empty regex in: ${pattern}`);
        if (defines.includes(name)) throw new FileCheckError(`'${name}' is defined twice in: ${pattern}`);
        checkRegex(def, pattern);
        source += `(?<${name}>${def})`;
        defines.push(name);
      } else if (defines.includes(name)) {
        source += `\\k<${name}>`;
      } else {
        const value = vars.get(name);
        if (value === undefined) throw new FileCheckError(`undefined variable '${name}' in: ${pattern}`);
        source += literal(value);
      }
      rest = rest.slice(close + 2);
    }
  }
  return { regex: new RegExp(source, 'g'), defines };
}

/** The index of the `]]` closing a variable whose body starts at `from`, skipping balanced `[...]`. */
function variableEnd(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\') i++;
    else if (ch === '[') depth++;
    else if (ch === ']' && depth > 0) depth--;
    else if (ch === ']' && text[i + 1] === ']') return i;
  }
  return -1;
}

function checkRegex(body: string, pattern: string): void {
  try {
    new RegExp(body);
  } catch (e) {
    throw new FileCheckError(`invalid regex '${body}' in pattern: ${pattern} (${(e as Error).message})`);
  }
}

/** The first match of `c` in output lines [from, to), starting at `from.col` on the first line. */
function search(
  c: Compiled,
  lines: readonly string[],
  from: Pos,
  to: Pos,
): (RegExpExecArray & { at: Match }) | null {
  for (let line = from.line; line <= Math.min(to.line, lines.length - 1); line++) {
    const text = lines[line]!;
    c.regex.lastIndex = line === from.line ? from.col : 0;
    const m = c.regex.exec(text);
    if (!m) continue;
    const end = m.index + m[0].length;
    if (line === to.line && end > to.col) return null;
    return Object.assign(m, { at: { start: { line, col: m.index }, end: { line, col: end } } });
  }
  return null;
}

function before(a: Pos, b: Pos): boolean {
  return a.line < b.line || (a.line === b.line && a.col < b.col);
}

/**
 * Checks `output` against `checks` (from `parseChecks(file)`). Returns null when every check holds,
 * or a message naming the first failing check line, what it searched for and where, with an
 * excerpt of the output.
 */
export function fileCheck(checks: readonly CheckLine[], output: string, file: string): string | null {
  if (checks.every((c) => c.kind === 'CHECK-NOT')) {
    // Only negative checks pass on any output that lacks them, including an empty one: require one
    // positive check, so that a test always proves that it looked at the right output.
    throw new FileCheckError(`${file}: no positive CHECK line (CHECK, CHECK-NEXT, CHECK-SAME, CHECK-LABEL)`);
  }
  const lines = output.split('\n');
  const eof: Pos = { line: lines.length - 1, col: lines[lines.length - 1]!.length };
  const vars = new Map<string, string>();
  const fail = (c: CheckLine, why: string, marks: Map<number, string>, compiled?: Compiled): string => {
    const uses = [...c.pattern.matchAll(/\[\[([A-Za-z_][A-Za-z0-9_]*)\]\]/g)]
      .map((m) => m[1]!)
      .filter((n) => vars.has(n));
    return [
      `${file}:${c.line}: ${c.kind}: ${why}`,
      `  ${c.kind}: ${c.pattern}`,
      ...[...new Set(uses)].map((n) => `  with [[${n}]] = ${JSON.stringify(vars.get(n))}`),
      ...(compiled ? [`  as regex: ${compiled.regex.source}`] : []),
      'output:',
      excerpt(lines, marks),
    ].join('\n');
  };

  // Labels first, in order; they split the output into blocks.
  const labels: { index: number; match: Match }[] = [];
  let labelFrom: Pos = { line: 0, col: 0 };
  for (const [index, c] of checks.entries()) {
    if (c.kind !== 'CHECK-LABEL') continue;
    if (c.pattern.includes('[['))
      throw new FileCheckError(`${file}:${c.line}: CHECK-LABEL takes no variables`);
    const compiled = compilePattern(c.pattern, vars);
    const m = search(compiled, lines, labelFrom, eof);
    if (!m) {
      const marks = new Map([
        [labelFrom.line, labels.length > 0 ? 'previous label; searched after it' : 'searched from here'],
      ]);
      return fail(c, 'label not found in the output', marks, compiled);
    }
    labels.push({ index, match: m.at });
    labelFrom = m.at.end;
  }

  // Then each block: the checks before the first label, and those after each label.
  const bounds = [-1, ...labels.map((l) => l.index), checks.length];
  for (let b = 0; b + 1 < bounds.length; b++) {
    const label = b === 0 ? undefined : labels[b - 1]!;
    const blockEnd = labels[b]?.match.start ?? eof;
    let prev: Match | undefined = label?.match;
    let cursor: Pos = prev?.end ?? { line: 0, col: 0 };
    let nots: CheckLine[] = [];
    const checkNots = (upTo: Pos, next: string): string | null => {
      for (const n of nots) {
        const compiled = compilePattern(n.pattern, vars);
        const m = search(compiled, lines, cursor, upTo);
        if (m && !before(upTo, m.at.end)) {
          return fail(
            n,
            `excluded string found ${prev ? `between the previous match and ${next}` : `before ${next}`}`,
            new Map([
              ...(prev ? [[prev.start.line, 'previous match'] as const] : []),
              [m.at.start.line, 'found here'],
            ]),
            compiled,
          );
        }
      }
      nots = [];
      return null;
    };
    for (let i = bounds[b]! + 1; i < bounds[b + 1]!; i++) {
      const c = checks[i]!;
      if (c.kind === 'CHECK-NOT') {
        if (compilePattern(c.pattern, vars).defines.length > 0) {
          throw new FileCheckError(`${file}:${c.line}: CHECK-NOT cannot define variables`);
        }
        nots.push(c);
        continue;
      }
      const compiled = compilePattern(c.pattern, vars);
      if ((c.kind === 'CHECK-NEXT' || c.kind === 'CHECK-SAME') && !prev) {
        throw new FileCheckError(`${file}:${c.line}: ${c.kind} has no previous match to follow`);
      }
      let m: ReturnType<typeof search>;
      if (c.kind === 'CHECK-SAME') {
        m = search(compiled, lines, cursor, { line: cursor.line, col: lines[cursor.line]!.length });
        if (!m || before(blockEnd, m.at.end)) {
          return fail(
            c,
            'expected string not found on the same line as the previous match, after it',
            new Map([[cursor.line, 'previous match; searched after it on this line']]),
            compiled,
          );
        }
      } else if (c.kind === 'CHECK-NEXT') {
        const next = cursor.line + 1;
        m =
          next < lines.length
            ? search(compiled, lines, { line: next, col: 0 }, { line: next, col: lines[next]!.length })
            : null;
        if (!m || before(blockEnd, m.at.end)) {
          const later = search(compiled, lines, cursor, blockEnd);
          const marks = new Map([
            [prev!.start.line, 'previous match'],
            [next, 'expected here'],
          ]);
          if (later) marks.set(later.at.start.line, 'found here instead');
          return fail(c, 'expected string not found on the line after the previous match', marks, compiled);
        }
      } else {
        m = search(compiled, lines, cursor, blockEnd);
        if (!m) {
          const marks = new Map<number, string>();
          if (prev) marks.set(prev.start.line, 'previous match; searched after it');
          else marks.set(0, 'searched from here');
          const near = closestLine(c.pattern, lines, cursor.line, blockEnd.line);
          if (near !== null && !marks.has(near)) marks.set(near, 'closest line?');
          return fail(
            c,
            `expected string not found ${label ? 'before the next label' : 'in the output'}`,
            marks,
            compiled,
          );
        }
      }
      const problem = checkNots(m.at.start, `this ${c.kind} (line ${c.line})`);
      if (problem) return problem;
      for (const name of compiled.defines) vars.set(name, m.groups![name]!);
      prev = m.at;
      cursor = m.at.end;
    }
    const problem = checkNots(blockEnd, label ? 'the next label' : 'the end of the output');
    if (problem) return problem;
  }
  return null;
}

/** The output line sharing the most words with the pattern's literal text, in [from, to]. */
function closestLine(pattern: string, lines: readonly string[], from: number, to: number): number | null {
  const words = new Set(
    pattern
      .replace(/\{\{.*?\}\}|\[\[.*?\]\]/g, ' ')
      .split(/[^A-Za-z0-9_%]+/)
      .filter((w) => w !== ''),
  );
  let best: number | null = null;
  let bestScore = 0;
  for (let i = from; i <= Math.min(to, lines.length - 1); i++) {
    const score = lines[i]!.split(/[^A-Za-z0-9_%]+/).filter((w) => words.has(w)).length;
    if (score > bestScore) {
      best = i;
      bestScore = score;
    }
  }
  return best;
}

/** Numbered output lines around the marked ones (or the whole output when short). */
function excerpt(lines: readonly string[], marks: ReadonlyMap<number, string>): string {
  const CONTEXT = 4;
  const FULL = 40;
  const show = new Set<number>();
  if (lines.length <= FULL) for (let i = 0; i < lines.length; i++) show.add(i);
  for (const at of marks.keys()) {
    for (let i = Math.max(0, at - CONTEXT); i <= Math.min(lines.length - 1, at + CONTEXT); i++) show.add(i);
  }
  const width = String(lines.length).length;
  const out: string[] = [];
  let last = -1;
  for (const i of [...show].sort((a, b) => a - b)) {
    if (last >= 0 && i > last + 1) out.push(`  ${' '.repeat(width)}   ...`);
    const mark = marks.get(i);
    out.push(
      `${mark ? '>>' : '  '} ${String(i + 1).padStart(width)} | ${lines[i]}${mark ? `    <-- ${mark}` : ''}`,
    );
    last = i;
  }
  return out.join('\n');
}
