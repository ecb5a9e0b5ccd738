import type { Span } from '../diagnostics/diagnostic.js';

/** The typed AST of a `.poly` file. Plain data; every node has the span of its source text. */

export type BinaryOp =
  | '+'
  | '-'
  | '*'
  | '/'
  | '//'
  | '%'
  | '@'
  | '^'
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'in'
  | 'and'
  | 'or';

export type Expr =
  | { readonly kind: 'num'; readonly value: number; readonly isInt: boolean; readonly span: Span }
  | { readonly kind: 'str'; readonly value: string; readonly span: Span }
  | { readonly kind: 'bool'; readonly value: boolean; readonly span: Span }
  | { readonly kind: 'name'; readonly name: string; readonly span: Span }
  | { readonly kind: 'tuple'; readonly items: readonly Expr[]; readonly span: Span }
  | { readonly kind: 'list'; readonly items: readonly Expr[]; readonly span: Span }
  | { readonly kind: 'map'; readonly entries: readonly MapEntry[]; readonly span: Span }
  | {
      readonly kind: 'binary';
      readonly op: BinaryOp;
      readonly lhs: Expr;
      readonly rhs: Expr;
      readonly span: Span;
    }
  | { readonly kind: 'unary'; readonly op: '-' | 'not'; readonly operand: Expr; readonly span: Span }
  | {
      readonly kind: 'if';
      readonly cond: Expr;
      readonly then: Expr;
      readonly else: Expr;
      readonly span: Span;
    }
  | { readonly kind: 'call'; readonly callee: Expr; readonly args: readonly Arg[]; readonly span: Span }
  | { readonly kind: 'member'; readonly object: Expr; readonly name: string; readonly span: Span }
  | {
      readonly kind: 'index';
      readonly object: Expr;
      readonly items: readonly IndexItem[];
      readonly span: Span;
    };

export interface MapEntry {
  readonly key: Expr;
  readonly value: Expr;
}

export interface Arg {
  readonly name: string | null;
  readonly value: Expr;
  readonly span: Span;
}

export type IndexItem =
  | { readonly kind: 'at'; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'slice'; readonly start: Expr | null; readonly end: Expr | null; readonly span: Span };

export type Stmt =
  | { readonly kind: 'assign'; readonly targets: readonly Ident[]; readonly value: Expr; readonly span: Span }
  | {
      readonly kind: 'for';
      readonly variable: Ident;
      readonly from: Expr;
      readonly to: Expr | null;
      readonly body: readonly Stmt[];
      readonly span: Span;
    }
  | {
      readonly kind: 'if';
      readonly cond: Expr;
      readonly then: readonly Stmt[];
      readonly else: readonly Stmt[] | null;
      readonly span: Span;
    }
  | { readonly kind: 'return'; readonly values: readonly Expr[]; readonly span: Span }
  | { readonly kind: 'assert'; readonly cond: Expr; readonly message: string | null; readonly span: Span }
  | { readonly kind: 'ignore'; readonly target: Expr; readonly span: Span };

export interface Ident {
  readonly name: string;
  readonly span: Span;
}

export interface TypeExpr {
  readonly name: string;
  /** Present for tensor types such as `f32[B, 3, size, size]`. */
  readonly dims: readonly Expr[] | null;
  readonly span: Span;
}

export interface Param {
  readonly name: Ident;
  readonly type: TypeExpr | null;
  readonly default: Expr | null;
  readonly span: Span;
}

export type Decl =
  | { readonly kind: 'import'; readonly path: string; readonly span: Span }
  | { readonly kind: 'const'; readonly name: Ident; readonly value: Expr; readonly span: Span }
  | {
      readonly kind: 'config';
      readonly name: Ident;
      readonly fields: readonly { readonly name: Ident; readonly value: Expr }[];
      readonly span: Span;
    }
  | BlockDecl
  | ModelDecl;

/** `block name(params) { body }` and `model name(inputs, settings) { body }` share one shape. */
interface FunctionDecl {
  readonly name: Ident;
  readonly params: readonly Param[];
  readonly body: readonly Stmt[];
  readonly span: Span;
}

export interface BlockDecl extends FunctionDecl {
  readonly kind: 'block';
}

export interface ModelDecl extends FunctionDecl {
  readonly kind: 'model';
}

export interface SourceFile {
  readonly file: string;
  readonly decls: readonly Decl[];
}
