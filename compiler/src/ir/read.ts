import { fail, type Span } from '../diagnostics/diagnostic.js';
import {
  type Dim,
  LAYOUTS,
  type Module,
  OP_KINDS,
  type Op,
  type OpKind,
  type Region,
  type TensorType,
  type ValueId,
} from './types.js';

/**
 * Parses the text form written by `printModule` (see print.ts). Only the syntax is checked here:
 * the result may still be invalid IR (undefined operands, wrong types, bad attrs), which is what
 * `verifyModule` is for. Whitespace, line breaks included, is insignificant; `//` starts a comment
 * that runs to the end of the line.
 *
 * Malformed text throws a `DiagnosticError` with code E0801 pointing into `text`.
 */
export function readModule(text: string, fileName = '<ir>'): Module {
  return new Reader(lex(text, fileName), fileName).module();
}

type TokenKind = 'ident' | 'number' | 'string' | 'id' | 'punct' | 'eof';

interface Token {
  readonly kind: TokenKind;
  /** The source text of the token ('' at the end of input). */
  readonly text: string;
  /** The decoded value of number, string and id tokens. */
  readonly value: number | string;
  readonly line: number;
  readonly col: number;
}

const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const DIGITS = /\d+/y;
const PUNCT = '={}()[],:+@';

function lex(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const match = (re: RegExp, at = i): string | null => {
    re.lastIndex = at;
    return re.exec(text)?.[0] ?? null;
  };
  while (i < text.length) {
    const c = text[i]!;
    const col = i - lineStart + 1;
    const push = (kind: TokenKind, src: string, value: number | string = src): void => {
      tokens.push({ kind, text: src, value, line, col });
      i += src.length;
    };
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (text.startsWith('//', i)) {
      // A comment runs to the end of the line (pass tests keep their RUN and CHECK lines in them).
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end;
    } else if (PUNCT.includes(c)) {
      push('punct', c);
    } else if (c === '%') {
      const digits = match(DIGITS, i + 1);
      if (digits === null)
        fail('E0801', `expected a value id like '%0' after '%'`, { file, line, col, length: 1 });
      push('id', `%${digits}`, Number(digits));
    } else if (c === '"') {
      // Strings are JSON strings; JSON.stringify never emits a raw line break, so one ends the search.
      let j = i + 1;
      while (j < text.length && text[j] !== '"' && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length || text[j] !== '"') {
        fail('E0801', 'unterminated string', { file, line, col, length: Math.max(1, j - i) });
      }
      const src = text.slice(i, j + 1);
      let value: string;
      try {
        value = JSON.parse(src) as string;
      } catch {
        fail('E0801', 'invalid escape sequence in string', { file, line, col, length: src.length });
      }
      push('string', src, value);
    } else if (text.startsWith('-Infinity', i)) {
      push('number', '-Infinity', Number.NEGATIVE_INFINITY);
    } else if (match(NUMBER) !== null) {
      const src = match(NUMBER)!;
      push('number', src, Number(src));
    } else if (match(IDENT) !== null) {
      push('ident', match(IDENT)!);
    } else {
      fail('E0801', `unexpected character ${JSON.stringify(c)}`, { file, line, col, length: 1 });
    }
  }
  tokens.push({ kind: 'eof', text: '', value: '', line, col: i - lineStart + 1 });
  return tokens;
}

type AttrValue = number | string | boolean | AttrValue[];

/** Attribute values written as bare words. */
const WORDS = new Map<string, AttrValue>([
  ['true', true],
  ['false', false],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
]);

/**
 * How deeply attribute lists and fused regions may nest. Printed IR nests lists two deep and
 * regions one; the reader recurses on both, and at some thousands of levels would overflow the stack.
 */
export const MAX_IR_NESTING = 64;

class Reader {
  private pos = 0;
  private depth = 0;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly file: string,
  ) {}

  module(): Module {
    this.keyword('module');
    const name = this.name('a module name');
    this.keyword('batch');
    const batch = this.name('the batch dimension name');
    this.punct('{');
    const ops: Op[] = [];
    const ignoredKeys: string[] = [];
    while (!this.isKeyword('return')) {
      if (this.peek().kind === 'id') ops.push(this.op());
      else if (this.isKeyword('ignore')) {
        this.next();
        ignoredKeys.push(this.string('a checkpoint key string'));
      } else this.expected(`an op, 'ignore' or 'return'`);
    }
    this.next();
    const outputs: ValueId[] = [];
    if (this.peek().kind === 'id') {
      outputs.push(this.id());
      while (this.eat(',')) outputs.push(this.id());
    }
    this.punct('}');
    if (this.peek().kind !== 'eof') this.expected('end of input after the module');
    return { name, batch, ops, outputs, ignoredKeys };
  }

  private op(): Op {
    const id = this.id();
    this.punct('=');
    const kindTok = this.peek();
    if (kindTok.kind !== 'ident') this.expected('an op kind');
    if (!(OP_KINDS as readonly string[]).includes(kindTok.text)) {
      this.error(`unknown op kind '${kindTok.text}'`, kindTok);
    }
    this.next();
    const operands: ValueId[] = [];
    if (this.eat('(') && !this.eat(')')) {
      do operands.push(this.id());
      while (this.eat(','));
      this.punct(')');
    }
    const attrs: [string, AttrValue][] = [];
    if (this.eat('{') && !this.eat('}')) {
      do {
        const keyTok = this.peek();
        const key = this.name('an attribute name');
        if (attrs.some(([k]) => k === key)) this.error(`attribute '${key}' given twice`, keyTok);
        this.punct('=');
        attrs.push([key, this.value()]);
      } while (this.eat(','));
      this.punct('}');
    }
    this.punct(':');
    const type = this.type();
    let loc: Span | null = null;
    if (this.isKeyword('loc')) {
      this.next();
      this.punct('(');
      const file = this.string('a file name string');
      this.punct(':');
      const line = this.int('a line number');
      this.punct(':');
      const col = this.int('a column number');
      this.punct('+');
      const length = this.int('a length');
      this.punct(')');
      loc = { file, line, col, length };
    }
    let scope = '';
    if (this.isKeyword('scope')) {
      this.next();
      scope = this.string('a scope string');
    }
    // The op kind was checked against OP_KINDS; attrs are checked by the verifier, not here.
    // (Object.fromEntries keeps the printed key order, and keeps a `__proto__` key an ordinary key.)
    if (kindTok.text === 'fused') attrs.push(['body', this.region() as unknown as AttrValue]);
    const op = {
      id,
      op: kindTok.text as OpKind,
      operands,
      attrs: Object.fromEntries(attrs),
      type,
      loc,
      scope,
    };
    return op as unknown as Op;
  }

  /** `{ ops... yield %r }` after a fused op. */
  private region(): Region {
    const open = this.peek();
    this.punct('{');
    return this.nested(open, () => {
      const ops: Op[] = [];
      while (!this.isKeyword('yield')) {
        if (this.peek().kind === 'id') ops.push(this.op());
        else this.expected(`an op or 'yield'`);
      }
      this.next();
      const result = this.id();
      this.punct('}');
      return { ops, result };
    });
  }

  /** Runs `f` one level deeper, refusing (E0803, at `at`) beyond MAX_IR_NESTING. */
  private nested<T>(at: Token, f: () => T): T {
    if (this.depth >= MAX_IR_NESTING) {
      const span: Span = { file: this.file, line: at.line, col: at.col, length: Math.max(1, at.text.length) };
      fail('E0803', `attribute lists and regions nest deeper than ${MAX_IR_NESTING} levels here`, span);
    }
    this.depth++;
    try {
      return f();
    } finally {
      this.depth--;
    }
  }

  private type(): TensorType {
    const dtype = this.peek();
    if (dtype.kind !== 'ident' || dtype.text !== 'f32') this.expected(`a tensor type like 'f32[B,3]'`);
    this.next();
    this.punct('[');
    const shape: Dim[] = [];
    if (!this.eat(']')) {
      do {
        const t = this.peek();
        if (t.kind === 'ident' || t.kind === 'string') shape.push(this.name('a dimension'));
        else shape.push(this.int('a dimension (an integer or the batch name)'));
      } while (this.eat(','));
      this.punct(']');
    }
    if (!this.eat('@')) return { dtype: 'f32', shape };
    const t = this.peek();
    const layout = LAYOUTS.find((l) => l === t.text);
    if (t.kind !== 'ident' || layout === undefined) this.expected(`a layout (${LAYOUTS.join(', ')})`);
    this.next();
    return { dtype: 'f32', shape, layout };
  }

  private value(): AttrValue {
    const t = this.peek();
    if (t.kind === 'number' || t.kind === 'string') {
      this.next();
      return t.value;
    }
    if (t.kind === 'ident') {
      const v = WORDS.get(t.text);
      if (v !== undefined) {
        this.next();
        return v;
      }
    }
    if (this.eat('[')) {
      return this.nested(t, () => {
        const items: AttrValue[] = [];
        if (!this.eat(']')) {
          do items.push(this.value());
          while (this.eat(','));
          this.punct(']');
        }
        return items;
      });
    }
    return this.expected('an attribute value (number, string, true, false or [...])');
  }

  private id(): ValueId {
    const t = this.peek();
    if (t.kind !== 'id') this.expected(`a value id like '%0'`);
    this.next();
    return t.value as number;
  }

  /** An identifier or a quoted string, as printed by `printName`. */
  private name(what: string): string {
    const t = this.peek();
    if (t.kind !== 'ident' && t.kind !== 'string') this.expected(what);
    this.next();
    return t.kind === 'ident' ? t.text : (t.value as string);
  }

  private string(what: string): string {
    const t = this.peek();
    if (t.kind !== 'string') this.expected(what);
    this.next();
    return t.value as string;
  }

  private int(what: string): number {
    const t = this.peek();
    if (t.kind !== 'number' || !Number.isInteger(t.value) || (t.value as number) < 0) {
      this.expected(what);
    }
    // Beyond 2^53 the text no longer names one number: a dimension or id would be rounded.
    if (!Number.isSafeInteger(t.value)) this.error(`${t.text} is beyond 2^53 - 1`, t);
    this.next();
    return t.value as number;
  }

  private keyword(word: string): void {
    if (!this.isKeyword(word)) this.expected(`'${word}'`);
    this.next();
  }

  private punct(p: string): void {
    if (!this.eat(p)) this.expected(`'${p}'`);
  }

  private isKeyword(word: string): boolean {
    const t = this.peek();
    return t.kind === 'ident' && t.text === word;
  }

  private eat(p: string): boolean {
    const t = this.peek();
    if (t.kind !== 'punct' || t.text !== p) return false;
    this.next();
    return true;
  }

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private next(): void {
    if (this.pos < this.tokens.length - 1) this.pos++;
  }

  /** Fails with "expected X, found Y" at the current token. */
  private expected(what: string): never {
    const at = this.peek();
    return this.error(`expected ${what}, found ${at.kind === 'eof' ? 'end of input' : `'${at.text}'`}`, at);
  }

  private error(message: string, at: Token): never {
    const span: Span = { file: this.file, line: at.line, col: at.col, length: Math.max(1, at.text.length) };
    return fail('E0801', message, span);
  }
}
