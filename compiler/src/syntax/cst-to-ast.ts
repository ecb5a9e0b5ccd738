import type { CstElement, CstNode, IToken } from 'chevrotain';
import type { Span } from '../diagnostics/diagnostic.js';
import type {
  Arg,
  BinaryOp,
  Decl,
  Expr,
  Ident,
  IndexItem,
  Param,
  SourceFile,
  Stmt,
  TypeExpr,
} from './ast.js';
import { decodeString } from './strings.js';

/**
 * Turns a chevrotain CST (from `grammars/poly.ts`) into the typed AST. Only called on trees that
 * parsed without errors, so every child the grammar requires is present.
 */
export function cstToAst(root: CstNode, file: string): SourceFile {
  const b = new Builder(file);
  return {
    file,
    decls: b
      .nodes(root, 'importDecl', 'constDecl', 'configDecl', 'blockDecl', 'modelDecl')
      .map((n) => b.decl(n)),
  };
}

function isToken(e: CstElement): e is IToken {
  return (e as IToken).image !== undefined;
}

function startOf(e: CstElement): number {
  return isToken(e) ? e.startOffset : (e.location?.startOffset ?? 0);
}

class Builder {
  constructor(private readonly file: string) {}

  spanOf(e: CstElement): Span {
    if (isToken(e)) {
      return {
        file: this.file,
        line: e.startLine ?? 1,
        col: e.startColumn ?? 1,
        length: Math.max(1, e.image.length),
      };
    }
    const l = e.location!;
    return {
      file: this.file,
      line: l.startLine ?? 1,
      col: l.startColumn ?? 1,
      length: Math.max(1, (l.endOffset ?? l.startOffset) - l.startOffset + 1),
    };
  }

  /** The children of `n` under the given keys, in source order. */
  nodes(n: CstNode, ...keys: string[]): CstNode[] {
    const out: CstNode[] = [];
    for (const k of keys) for (const c of n.children[k] ?? []) if (!isToken(c)) out.push(c);
    return out.sort((a, c) => startOf(a) - startOf(c));
  }

  node(n: CstNode, key: string, i = 0): CstNode {
    return n.children[key]![i] as CstNode;
  }

  maybeNode(n: CstNode, key: string, i = 0): CstNode | undefined {
    return n.children[key]?.[i] as CstNode | undefined;
  }

  token(n: CstNode, key: string, i = 0): IToken {
    return n.children[key]![i] as IToken;
  }

  tokens(n: CstNode, key: string): IToken[] {
    return (n.children[key] ?? []) as IToken[];
  }

  ident(t: IToken): Ident {
    return { name: t.image, span: this.spanOf(t) };
  }

  decl(n: CstNode): Decl {
    const span = this.spanOf(n);
    switch (n.name) {
      case 'importDecl':
        return { kind: 'import', path: unquote(this.token(n, 'String').image), span };
      case 'constDecl':
        return {
          kind: 'const',
          name: this.ident(this.token(n, 'Identifier')),
          value: this.expr(this.node(n, 'expr')),
          span,
        };
      case 'configDecl':
        return {
          kind: 'config',
          name: this.ident(this.token(n, 'Identifier')),
          fields: this.nodes(n, 'field').map((f) => ({
            name: this.ident(this.token(f, 'Identifier')),
            value: this.expr(this.node(f, 'expr')),
          })),
          span,
        };
      default: {
        const fn = {
          name: this.ident(this.token(n, 'Identifier')),
          params: this.nodes(this.node(n, 'paramList'), 'param').map((p) => this.param(p)),
          body: this.body(this.node(n, 'body')),
          span,
        };
        return n.name === 'modelDecl' ? { kind: 'model', ...fn } : { kind: 'block', ...fn };
      }
    }
  }

  param(n: CstNode): Param {
    const t = this.maybeNode(n, 'typeExpr');
    const d = this.maybeNode(n, 'expr');
    return {
      name: this.ident(this.token(n, 'Identifier')),
      type: t ? this.typeExpr(t) : null,
      default: d ? this.expr(d) : null,
      span: this.spanOf(n),
    };
  }

  typeExpr(n: CstNode): TypeExpr {
    const dims = n.children.LBracket ? this.nodes(n, 'expr').map((e) => this.expr(e)) : null;
    const name = (n.children.Identifier ?? n.children.Config)![0] as IToken;
    return { name: name.image, dims, span: this.spanOf(n) };
  }

  body(n: CstNode): Stmt[] {
    return this.nodes(n, 'stmt').map((s) => this.stmt(this.nodes(s, ...STMT_KINDS)[0]!));
  }

  stmt(n: CstNode): Stmt {
    const span = this.spanOf(n);
    switch (n.name) {
      case 'forStmt': {
        const bounds = this.nodes(n, 'addExpr');
        return {
          kind: 'for',
          variable: this.ident(this.token(n, 'Identifier')),
          from: this.expr(bounds[0]!),
          to: bounds[1] ? this.expr(bounds[1]) : null,
          body: this.body(this.node(n, 'body')),
          span,
        };
      }
      case 'ifStmt': {
        // `if a {} else if b {} else {}` is flat in the CST; the AST nests it from the last branch.
        const conds = this.nodes(n, 'expr');
        const bodies = this.nodes(n, 'body');
        const ifs = this.tokens(n, 'If');
        let rest: Stmt[] | null = bodies.length > conds.length ? this.body(bodies[bodies.length - 1]!) : null;
        for (let i = conds.length - 1; i >= 0; i--) {
          const s: Stmt = {
            kind: 'if',
            cond: this.expr(conds[i]!),
            then: this.body(bodies[i]!),
            else: rest,
            span: i === 0 ? span : this.spanOf(ifs[i]!),
          };
          rest = [s];
        }
        return rest![0]!;
      }
      case 'returnStmt':
        return { kind: 'return', values: this.nodes(n, 'expr').map((e) => this.expr(e)), span };
      case 'assertStmt': {
        const msg = this.tokens(n, 'String')[0];
        return {
          kind: 'assert',
          cond: this.expr(this.node(n, 'expr')),
          message: msg ? unquote(msg.image) : null,
          span,
        };
      }
      case 'ignoreStmt':
        return { kind: 'ignore', target: this.expr(this.node(n, 'expr')), span };
      default:
        return {
          kind: 'assign',
          targets: this.tokens(n, 'Identifier').map((t) => this.ident(t)),
          value: this.expr(this.node(n, 'expr')),
          span,
        };
    }
  }

  expr(n: CstNode): Expr {
    const span = this.spanOf(n);
    switch (n.name) {
      case 'expr':
        return this.expr(this.nodes(n, 'ifExpr', 'orExpr')[0]!);
      case 'ifExpr': {
        // cond, then, cond, then, ..., else: flat in the CST, nested from the last in the AST.
        const parts = this.nodes(n, 'expr');
        const ifs = this.tokens(n, 'If');
        let acc = this.expr(parts[parts.length - 1]!);
        for (let i = parts.length - 3; i >= 0; i -= 2) {
          const cond = this.expr(parts[i]!);
          const then = this.expr(parts[i + 1]!);
          acc = { kind: 'if', cond, then, else: acc, span: i === 0 ? span : this.spanOf(ifs[i / 2]!) };
        }
        return acc;
      }
      case 'orExpr':
        return this.chain(n, 'andExpr', ['Or']);
      case 'andExpr':
        return this.chain(n, 'notExpr', ['And']);
      case 'notExpr':
        return this.prefix(n, 'not', 'cmpExpr', span);
      case 'cmpExpr':
        return this.chain(n, 'addExpr', ['CmpOp', 'In']);
      case 'addExpr':
        return this.chain(n, 'mulExpr', ['AddOp']);
      case 'mulExpr':
        return this.chain(n, 'unaryExpr', ['MulOp']);
      case 'unaryExpr':
        return this.prefix(n, '-', 'powExpr', span);
      case 'powExpr': {
        const base = this.expr(this.node(n, 'postfixExpr'));
        const exp = this.maybeNode(n, 'unaryExpr');
        return exp ? { kind: 'binary', op: '^', lhs: base, rhs: this.expr(exp), span } : base;
      }
      case 'postfixExpr':
        return this.postfix(n);
      default:
        return this.primary(n);
    }
  }

  /** A prefix operator applied to the same rule nested in `n`, or (without it) `n`'s `next` rule. */
  prefix(n: CstNode, op: '-' | 'not', next: string, span: Span): Expr {
    const inner = this.maybeNode(n, n.name);
    return inner ? { kind: 'unary', op, operand: this.expr(inner), span } : this.expr(this.node(n, next));
  }

  /** A left-associative chain `a op b op c` whose operands are under `operandKey`. */
  chain(n: CstNode, operandKey: string, opKeys: string[]): Expr {
    const operands = this.nodes(n, operandKey);
    const ops = opKeys.flatMap((k) => this.tokens(n, k)).sort((a, b) => a.startOffset - b.startOffset);
    let acc = this.expr(operands[0]!);
    ops.forEach((op, i) => {
      const rhs = this.expr(operands[i + 1]!);
      acc = { kind: 'binary', op: op.image as BinaryOp, lhs: acc, rhs, span: joinSpans(acc.span, rhs.span) };
    });
    return acc;
  }

  postfix(n: CstNode): Expr {
    let acc = this.primary(this.node(n, 'primary'));
    for (const s of this.nodes(n, 'callSuffix', 'memberSuffix', 'indexSuffix')) {
      const span = joinSpans(acc.span, this.spanOf(s));
      if (s.name === 'callSuffix') {
        acc = { kind: 'call', callee: acc, args: this.nodes(s, 'arg').map((a) => this.arg(a)), span };
      } else if (s.name === 'memberSuffix') {
        acc = { kind: 'member', object: acc, name: this.token(s, 'AnyName').image, span };
      } else {
        acc = {
          kind: 'index',
          object: acc,
          items: this.nodes(s, 'sliceItem').map((i) => this.indexItem(i)),
          span,
        };
      }
    }
    return acc;
  }

  arg(n: CstNode): Arg {
    const name = this.tokens(n, 'Identifier')[0];
    return { name: name ? name.image : null, value: this.expr(this.node(n, 'expr')), span: this.spanOf(n) };
  }

  indexItem(n: CstNode): IndexItem {
    const span = this.spanOf(n);
    if (!n.children.Colon) return { kind: 'at', value: this.expr(this.node(n, 'start')), span };
    const start = this.maybeNode(n, 'start');
    const end = this.maybeNode(n, 'end') ?? this.maybeNode(n, 'expr');
    return { kind: 'slice', start: start ? this.expr(start) : null, end: end ? this.expr(end) : null, span };
  }

  primary(n: CstNode): Expr {
    const span = this.spanOf(n);
    const c = n.children;
    if (c.Number) {
      const image = (c.Number[0] as IToken).image;
      return { kind: 'num', value: Number(image), isInt: /^\d+$/.test(image), span };
    }
    if (c.String) return { kind: 'str', value: unquote((c.String[0] as IToken).image), span };
    if (c.True) return { kind: 'bool', value: true, span };
    if (c.False) return { kind: 'bool', value: false, span };
    if (c.Identifier) return { kind: 'name', name: (c.Identifier[0] as IToken).image, span };
    const paren = this.maybeNode(n, 'parenExpr');
    if (paren) {
      const items = this.nodes(paren, 'expr').map((e) => this.expr(e));
      return items.length === 1 ? items[0]! : { kind: 'tuple', items, span };
    }
    const list = this.maybeNode(n, 'listExpr');
    if (list) return { kind: 'list', items: this.nodes(list, 'expr').map((e) => this.expr(e)), span };
    const map = this.node(n, 'mapExpr');
    return {
      kind: 'map',
      entries: this.nodes(map, 'mapEntry').map((e) => ({
        key: this.expr(this.node(e, 'key')),
        value: this.expr(this.node(e, 'value')),
      })),
      span,
    };
  }
}

const STMT_KINDS = ['forStmt', 'ifStmt', 'returnStmt', 'assertStmt', 'ignoreStmt', 'assignStmt'];

/** Only called on tree that parsed cleanly, whose string literals `parse.ts` already checked. */
function unquote(image: string): string {
  return decodeString(image)!;
}

/** The span from the start of `a` to the end of `b` when both are on one line; else `a`'s line. */
export function joinSpans(a: Span, b: Span): Span {
  if (a.line !== b.line) return a;
  return { ...a, length: Math.max(a.length, b.col + b.length - a.col) };
}
