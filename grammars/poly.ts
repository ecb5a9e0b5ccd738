/**
 * The `.poly` grammar: tokens and a chevrotain CST parser with error recovery on, so that one run
 * reports every syntax error. The CST is turned into the typed AST by
 * `compiler/src/syntax/cst-to-ast.ts`; nothing here knows about the compiler.
 */
import { CstParser, createToken, type IToken, Lexer, type TokenType } from 'chevrotain';

/** Any word, keywords included: what may follow a `.` (`self.block` is a fine module name). */
export const AnyName = createToken({ name: 'AnyName', pattern: Lexer.NA, label: 'a name' });
export const Identifier = createToken({
  name: 'Identifier',
  pattern: /[A-Za-z_][A-Za-z0-9_]*/,
  categories: AnyName,
  label: 'a name',
});

function keyword(word: string): TokenType {
  return createToken({
    name: word[0]!.toUpperCase() + word.slice(1),
    pattern: new RegExp(word),
    longer_alt: Identifier,
    categories: AnyName,
  });
}

export const Import = keyword('import');
export const Const = keyword('const');
export const Config = keyword('config');
export const Block = keyword('block');
export const Model = keyword('model');
export const For = keyword('for');
export const In = keyword('in');
export const If = keyword('if');
export const Then = keyword('then');
export const Else = keyword('else');
export const Return = keyword('return');
export const Assert = keyword('assert');
export const Ignore = keyword('ignore');
export const And = keyword('and');
export const Or = keyword('or');
export const Not = keyword('not');
export const True = keyword('true');
export const False = keyword('false');

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\n]*/, group: Lexer.SKIPPED });
export const NumberLit = createToken({
  name: 'Number',
  pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/,
  label: 'a number',
});
export const StringLit = createToken({ name: 'String', pattern: /"(?:[^"\\\n]|\\.)*"/, label: 'a string' });

export const DotDot = createToken({ name: 'DotDot', pattern: /\.\./, label: "'..'" });
export const Dot = createToken({ name: 'Dot', pattern: /\./, label: "'.'" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });
export const Semi = createToken({ name: 'Semi', pattern: /;/, label: "';'" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: /]/, label: "']'" });
export const LBrace = createToken({ name: 'LBrace', pattern: /\{/, label: "'{'" });
export const RBrace = createToken({ name: 'RBrace', pattern: /}/, label: "'}'" });
export const Arrow = createToken({ name: 'Arrow', pattern: /->/, label: "'->'" });

export const CmpOp = createToken({ name: 'CmpOp', pattern: Lexer.NA });
export const EqEq = createToken({ name: 'EqEq', pattern: /==/, categories: CmpOp, label: "'=='" });
export const NotEq = createToken({ name: 'NotEq', pattern: /!=/, categories: CmpOp, label: "'!='" });
export const LessEq = createToken({ name: 'LessEq', pattern: /<=/, categories: CmpOp, label: "'<='" });
export const GreaterEq = createToken({ name: 'GreaterEq', pattern: />=/, categories: CmpOp, label: "'>='" });
export const Less = createToken({ name: 'Less', pattern: /</, categories: CmpOp, label: "'<'" });
export const Greater = createToken({ name: 'Greater', pattern: />/, categories: CmpOp, label: "'>'" });
export const Assign = createToken({ name: 'Assign', pattern: /=/, label: "'='" });

export const AddOp = createToken({ name: 'AddOp', pattern: Lexer.NA });
export const Plus = createToken({ name: 'Plus', pattern: /\+/, categories: AddOp, label: "'+'" });
export const Minus = createToken({ name: 'Minus', pattern: /-/, categories: AddOp, label: "'-'" });
export const MulOp = createToken({ name: 'MulOp', pattern: Lexer.NA });
export const Star = createToken({ name: 'Star', pattern: /\*/, categories: MulOp, label: "'*'" });
export const SlashSlash = createToken({
  name: 'SlashSlash',
  pattern: /\/\//,
  categories: MulOp,
  label: "'//'",
});
export const Slash = createToken({ name: 'Slash', pattern: /\//, categories: MulOp, label: "'/'" });
export const Percent = createToken({ name: 'Percent', pattern: /%/, categories: MulOp, label: "'%'" });
export const At = createToken({ name: 'At', pattern: /@/, categories: MulOp, label: "'@'" });
export const Caret = createToken({ name: 'Caret', pattern: /\^/, label: "'^'" });

/** Order matters: longer operators and keywords before their prefixes, identifiers last. */
export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  AnyName,
  Import,
  Const,
  Config,
  Block,
  Model,
  For,
  In,
  If,
  Then,
  Else,
  Return,
  Assert,
  Ignore,
  And,
  Or,
  Not,
  True,
  False,
  Identifier,
  NumberLit,
  StringLit,
  DotDot,
  Dot,
  Comma,
  Colon,
  Semi,
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Arrow,
  CmpOp,
  EqEq,
  NotEq,
  LessEq,
  GreaterEq,
  Less,
  Greater,
  Assign,
  AddOp,
  Plus,
  Minus,
  MulOp,
  Star,
  SlashSlash,
  Slash,
  Percent,
  At,
  Caret,
];

export const polyLexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });

/**
 * How deeply brackets, calls, indexing, blocks, prefix operators, `^` and if-expressions may nest.
 * The parser is recursive descent and one bracket costs a dozen rule calls (about 10 KB of stack),
 * so deeper input would overflow the JavaScript stack (at about 115 nested `(` with Node's default
 * 984 KB): the limit stops it with a third of that stack, at the token where it went too deep.
 */
export const MAX_NESTING = 32;

/** Thrown out of the parser (not a recognition error: recovery does not catch it). */
export class NestingTooDeep extends Error {
  constructor(readonly token: IToken) {
    super(`nesting deeper than ${MAX_NESTING} levels`);
  }
}

export class PolyParser extends CstParser {
  private depth = 0;

  constructor() {
    super(allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: 'full' });
    this.performSelfAnalysis();
  }

  /** Parses `f` one nesting level deeper; every recursive path of the grammar goes through here. */
  private nest(f: () => void): void {
    this.ACTION(() => {
      if (++this.depth > MAX_NESTING) throw new NestingTooDeep(this.LA(1));
    });
    try {
      f();
    } finally {
      this.ACTION(() => this.depth--);
    }
  }

  program = this.RULE('program', () => {
    // A parse that threw NestingTooDeep left its count behind.
    this.ACTION(() => {
      this.depth = 0;
    });
    this.MANY(() =>
      this.OR([
        { ALT: () => this.SUBRULE(this.importDecl) },
        { ALT: () => this.SUBRULE(this.constDecl) },
        { ALT: () => this.SUBRULE(this.configDecl) },
        { ALT: () => this.SUBRULE(this.blockDecl) },
        { ALT: () => this.SUBRULE(this.modelDecl) },
      ]),
    );
  });

  importDecl = this.RULE('importDecl', () => {
    this.CONSUME(Import);
    this.CONSUME(StringLit);
    this.OPTION(() => this.CONSUME(Semi));
  });

  constDecl = this.RULE('constDecl', () => {
    this.CONSUME(Const);
    this.CONSUME(Identifier);
    this.CONSUME(Assign);
    this.SUBRULE(this.expr);
    this.OPTION(() => this.CONSUME(Semi));
  });

  /** `config Name { key = expr ... }`: a named record of compile-time settings. */
  configDecl = this.RULE('configDecl', () => {
    this.CONSUME(Config);
    this.CONSUME(Identifier);
    this.CONSUME(LBrace);
    this.MANY(() => this.SUBRULE(this.field));
    this.CONSUME(RBrace);
  });

  field = this.RULE('field', () => {
    this.CONSUME(Identifier);
    this.CONSUME(Assign);
    this.SUBRULE(this.expr);
    this.OPTION(() => this.CONSUME(Semi));
  });

  blockDecl = this.RULE('blockDecl', () => {
    this.CONSUME(Block);
    this.CONSUME(Identifier);
    this.SUBRULE(this.paramList);
    this.SUBRULE(this.body);
  });

  modelDecl = this.RULE('modelDecl', () => {
    this.CONSUME(Model);
    this.CONSUME(Identifier);
    this.SUBRULE(this.paramList);
    this.SUBRULE(this.body);
  });

  paramList = this.RULE('paramList', () => {
    this.CONSUME(LParen);
    this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.param) });
    this.CONSUME(RParen);
    this.OPTION(() => {
      this.CONSUME(Arrow);
      this.SUBRULE(this.typeExpr);
    });
  });

  param = this.RULE('param', () => {
    this.CONSUME(Identifier);
    this.OPTION(() => {
      this.CONSUME(Colon);
      this.SUBRULE(this.typeExpr);
    });
    this.OPTION2(() => {
      this.CONSUME(Assign);
      this.SUBRULE(this.expr);
    });
  });

  /** `int`, `tensor`, `path`, … or a tensor type with a shape: `f32[B, 3, size, size]`. */
  typeExpr = this.RULE('typeExpr', () => {
    this.OR([{ ALT: () => this.CONSUME(Identifier) }, { ALT: () => this.CONSUME(Config) }]);
    this.OPTION(() => {
      this.CONSUME(LBracket);
      this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.expr) });
      this.CONSUME(RBracket);
    });
  });

  body = this.RULE('body', () => {
    this.CONSUME(LBrace);
    this.MANY(() => this.SUBRULE(this.stmt));
    this.CONSUME(RBrace);
  });

  stmt = this.RULE('stmt', () => {
    this.OR([
      { ALT: () => this.nest(() => this.SUBRULE(this.forStmt)) },
      { ALT: () => this.nest(() => this.SUBRULE(this.ifStmt)) },
      { ALT: () => this.SUBRULE(this.returnStmt) },
      { ALT: () => this.SUBRULE(this.assertStmt) },
      { ALT: () => this.SUBRULE(this.ignoreStmt) },
      { ALT: () => this.SUBRULE(this.assignStmt) },
    ]);
    this.OPTION(() => this.CONSUME(Semi));
  });

  /** `for i in lo .. hi { }` (hi exclusive) or `for x in list { }`. */
  forStmt = this.RULE('forStmt', () => {
    this.CONSUME(For);
    this.CONSUME(Identifier);
    this.CONSUME(In);
    this.SUBRULE(this.addExpr);
    this.OPTION(() => {
      this.CONSUME(DotDot);
      this.SUBRULE2(this.addExpr);
    });
    this.SUBRULE(this.body);
  });

  /** `if c { } else if d { } ... else { }`: the else-if chain is a loop, so any length parses. */
  ifStmt = this.RULE('ifStmt', () => {
    this.CONSUME(If);
    this.SUBRULE(this.expr);
    this.SUBRULE(this.body);
    this.MANY({
      GATE: () => this.LA(2).tokenType === If,
      DEF: () => {
        this.CONSUME(Else);
        this.CONSUME2(If);
        this.SUBRULE2(this.expr);
        this.SUBRULE2(this.body);
      },
    });
    this.OPTION(() => {
      this.CONSUME2(Else);
      this.SUBRULE3(this.body);
    });
  });

  returnStmt = this.RULE('returnStmt', () => {
    this.CONSUME(Return);
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.expr) });
  });

  assertStmt = this.RULE('assertStmt', () => {
    this.CONSUME(Assert);
    this.SUBRULE(this.expr);
    this.OPTION(() => {
      this.CONSUME(Comma);
      this.CONSUME(StringLit);
    });
  });

  /** `ignore self.head[2].p`: a checkpoint key the model accepts and does not use. */
  ignoreStmt = this.RULE('ignoreStmt', () => {
    this.CONSUME(Ignore);
    this.SUBRULE(this.expr);
  });

  /** `x = e` or `a, b = e` (destructuring a tuple). */
  assignStmt = this.RULE('assignStmt', () => {
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.CONSUME(Identifier) });
    this.CONSUME(Assign);
    this.SUBRULE(this.expr);
  });

  expr = this.RULE('expr', () => {
    this.OR([
      { ALT: () => this.nest(() => this.SUBRULE(this.ifExpr)) },
      { ALT: () => this.SUBRULE(this.orExpr) },
    ]);
  });

  /** `if c then a else if d then b else e`: the else-if chain is a loop, as in `ifStmt`. */
  ifExpr = this.RULE('ifExpr', () => {
    this.CONSUME(If);
    this.SUBRULE(this.expr);
    this.CONSUME(Then);
    this.SUBRULE2(this.expr);
    this.MANY({
      GATE: () => this.LA(2).tokenType === If,
      DEF: () => {
        this.CONSUME(Else);
        this.CONSUME2(If);
        this.SUBRULE3(this.expr);
        this.CONSUME2(Then);
        this.SUBRULE4(this.expr);
      },
    });
    this.CONSUME2(Else);
    this.SUBRULE5(this.expr);
  });

  orExpr = this.RULE('orExpr', () => {
    this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(Or);
      this.SUBRULE2(this.andExpr);
    });
  });

  andExpr = this.RULE('andExpr', () => {
    this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(And);
      this.SUBRULE2(this.notExpr);
    });
  });

  notExpr = this.RULE('notExpr', () => {
    this.OR([
      {
        ALT: () =>
          this.nest(() => {
            this.CONSUME(Not);
            this.SUBRULE(this.notExpr);
          }),
      },
      { ALT: () => this.SUBRULE(this.cmpExpr) },
    ]);
  });

  cmpExpr = this.RULE('cmpExpr', () => {
    this.SUBRULE(this.addExpr);
    this.OPTION(() => {
      this.OR([{ ALT: () => this.CONSUME(CmpOp) }, { ALT: () => this.CONSUME(In) }]);
      this.SUBRULE2(this.addExpr);
    });
  });

  addExpr = this.RULE('addExpr', () => {
    this.SUBRULE(this.mulExpr);
    this.MANY(() => {
      this.CONSUME(AddOp);
      this.SUBRULE2(this.mulExpr);
    });
  });

  mulExpr = this.RULE('mulExpr', () => {
    this.SUBRULE(this.unaryExpr);
    this.MANY(() => {
      this.CONSUME(MulOp);
      this.SUBRULE2(this.unaryExpr);
    });
  });

  unaryExpr = this.RULE('unaryExpr', () => {
    this.OR([
      {
        ALT: () =>
          this.nest(() => {
            this.CONSUME(Minus);
            this.SUBRULE(this.unaryExpr);
          }),
      },
      { ALT: () => this.SUBRULE(this.powExpr) },
    ]);
  });

  /** `x ^ n`: right-associative and tighter than unary minus (`-x^2` is `-(x^2)`). */
  powExpr = this.RULE('powExpr', () => {
    this.SUBRULE(this.postfixExpr);
    this.OPTION(() =>
      this.nest(() => {
        this.CONSUME(Caret);
        this.SUBRULE(this.unaryExpr);
      }),
    );
  });

  postfixExpr = this.RULE('postfixExpr', () => {
    this.SUBRULE(this.primary);
    this.MANY(() =>
      this.OR([
        { ALT: () => this.nest(() => this.SUBRULE(this.callSuffix)) },
        { ALT: () => this.SUBRULE(this.memberSuffix) },
        { ALT: () => this.nest(() => this.SUBRULE(this.indexSuffix)) },
      ]),
    );
  });

  callSuffix = this.RULE('callSuffix', () => {
    this.CONSUME(LParen);
    this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.arg) });
    this.CONSUME(RParen);
  });

  /** A positional argument, or `name = expr`. */
  arg = this.RULE('arg', () => {
    this.OPTION(() => {
      this.CONSUME(Identifier);
      this.CONSUME(Assign);
    });
    this.SUBRULE(this.expr);
  });

  memberSuffix = this.RULE('memberSuffix', () => {
    this.CONSUME(Dot);
    this.CONSUME(AnyName);
  });

  indexSuffix = this.RULE('indexSuffix', () => {
    this.CONSUME(LBracket);
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.sliceItem) });
    this.CONSUME(RBracket);
  });

  /** `e`, `:`, `a:`, `:b`, `a:b`. */
  sliceItem = this.RULE('sliceItem', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(Colon);
          this.OPTION(() => this.SUBRULE(this.expr));
        },
      },
      {
        ALT: () => {
          this.SUBRULE2(this.expr, { LABEL: 'start' });
          this.OPTION2(() => {
            this.CONSUME2(Colon);
            this.OPTION3(() => this.SUBRULE3(this.expr, { LABEL: 'end' }));
          });
        },
      },
    ]);
  });

  primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(NumberLit) },
      { ALT: () => this.CONSUME(StringLit) },
      { ALT: () => this.CONSUME(True) },
      { ALT: () => this.CONSUME(False) },
      { ALT: () => this.CONSUME(Identifier) },
      { ALT: () => this.nest(() => this.SUBRULE(this.parenExpr)) },
      { ALT: () => this.nest(() => this.SUBRULE(this.listExpr)) },
      { ALT: () => this.nest(() => this.SUBRULE(this.mapExpr)) },
    ]);
  });

  /** `(e)` or a tuple `(a, b)`. */
  parenExpr = this.RULE('parenExpr', () => {
    this.CONSUME(LParen);
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.expr) });
    this.CONSUME(RParen);
  });

  listExpr = this.RULE('listExpr', () => {
    this.CONSUME(LBracket);
    this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.expr) });
    this.CONSUME(RBracket);
  });

  /** `{2: 2, 4: 4}`: a map with compile-time keys. */
  mapExpr = this.RULE('mapExpr', () => {
    this.CONSUME(LBrace);
    this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.mapEntry) });
    this.CONSUME(RBrace);
  });

  mapEntry = this.RULE('mapEntry', () => {
    this.SUBRULE(this.expr, { LABEL: 'key' });
    this.CONSUME(Colon);
    this.SUBRULE2(this.expr, { LABEL: 'value' });
  });
}

/** One shared parser instance: chevrotain parsers are reusable by resetting `input`. */
export const polyParser = new PolyParser();
