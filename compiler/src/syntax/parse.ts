import type { CstNode, IRecognitionException, IToken } from 'chevrotain';
import { MAX_NESTING, NestingTooDeep, polyLexer, polyParser } from '../../../grammars/poly.js';
import { type Diagnostic, error } from '../diagnostics/diagnostic.js';
import type { SourceFile } from './ast.js';
import { cstToAst } from './cst-to-ast.js';
import { decodeString } from './strings.js';

export interface ParseResult {
  /** Null when there were syntax errors. */
  readonly ast: SourceFile | null;
  readonly diagnostics: readonly Diagnostic[];
}

/** Parses one `.poly` source. Never throws for bad input: every problem is a diagnostic. */
export function parse(text: string, file: string): ParseResult {
  const lexed = polyLexer.tokenize(text);
  const diagnostics: Diagnostic[] = lexed.errors.map((e) => {
    const ch = text.slice(e.offset, e.offset + e.length);
    const unterminated = ch.startsWith('"');
    return error(
      unterminated ? 'E0103' : 'E0101',
      unterminated ? 'unterminated string literal' : `unexpected character '${ch}'`,
      { file, line: e.line ?? 1, col: e.column ?? 1, length: unterminated ? 1 : e.length },
    );
  });
  for (const t of lexed.tokens) {
    if (t.tokenType.name === 'String' && decodeString(t.image) === null) {
      diagnostics.push(
        error(
          'E0104',
          `invalid escape in string literal ${t.image} (use \\\\, \\", \\n, \\t, \\r or \\u{hex})`,
          {
            file,
            line: t.startLine ?? 1,
            col: t.startColumn ?? 1,
            length: t.image.length,
          },
        ),
      );
    }
  }
  polyParser.input = lexed.tokens;
  let cst: CstNode;
  try {
    cst = polyParser.program();
  } catch (e) {
    if (!(e instanceof NestingTooDeep)) throw e;
    // The parse stopped there: later syntax errors are unknown, the nesting is the one to fix.
    const t = e.token;
    const span = {
      file,
      line: t.startLine ?? 1,
      col: t.startColumn ?? 1,
      length: Math.max(1, t.image.length),
    };
    const message = `brackets, blocks and operators nest deeper than ${MAX_NESTING} levels here`;
    return { ast: null, diagnostics: [...diagnostics, error('E0105', message, span)] };
  }
  // After recovery, one mistake often yields more errors later on its line: report the first only.
  const lines = new Set(diagnostics.map((d) => d.span!.line));
  for (const e of polyParser.errors) {
    const d = syntaxError(e, file, text);
    if (lines.has(d.span!.line)) continue;
    lines.add(d.span!.line);
    diagnostics.push(d);
  }
  return { ast: diagnostics.length === 0 ? cstToAst(cst, file) : null, diagnostics };
}

function syntaxError(e: IRecognitionException, file: string, text: string): Diagnostic {
  const t: IToken = e.token;
  const atEnd = t.tokenType.name === 'EOF' || Number.isNaN(t.startOffset);
  const lines = text.split('\n');
  const line = atEnd ? lines.length : (t.startLine ?? 1);
  const col = atEnd ? (lines[lines.length - 1]?.length ?? 0) + 1 : (t.startColumn ?? 1);
  const found = atEnd ? 'end of file' : `'${t.image}'`;
  return error('E0102', `${describe(e)}, found ${found}`, {
    file,
    line,
    col,
    length: atEnd ? 1 : t.image.length,
  });
}

/** Rewords chevrotain's messages ("Expecting token of type --> RParen <--") for people. */
function describe(e: IRecognitionException): string {
  const m = /Expecting (?:token of type )?--> (.*?) <--/.exec(e.message);
  if (m) return `expected ${m[1]}`;
  if (e.name === 'NoViableAltException') {
    const rule = e.context.ruleStack[e.context.ruleStack.length - 1] ?? 'input';
    return `expected ${RULE_WORDS[rule] ?? rule}`;
  }
  if (e.name === 'NotAllInputParsedException')
    return 'expected a declaration (import, const, config, block, model)';
  return e.message.split('\n')[0] ?? 'syntax error';
}

const RULE_WORDS: Record<string, string> = {
  program: 'a declaration (import, const, config, block, model)',
  stmt: 'a statement (assignment, for, if, return, assert, ignore)',
  primary: 'an expression',
  expr: 'an expression',
  sliceItem: 'an index or slice',
  notExpr: 'an expression',
  unaryExpr: 'an expression',
};
