import { ts } from 'ts-morph';
import { InternalError } from '../../diagnostics/diagnostic.js';

/**
 * JavaScript from TypeScript by deleting its type syntax from the text: annotations, return types,
 * interfaces and type aliases, type-only imports and exports, `as`/`satisfies`, non-null `!`, type
 * arguments and parameters, `implements`, TypeScript-only modifiers. Everything else (code,
 * comments, layout) is kept as written, so the JavaScript reads like the source.
 *
 * For the generated modules (hundreds of KB of straight-line code): `ts.transpileModule` binds the
 * file and reprints every node, which took over a second for a large model; this only parses.
 * Syntax that is not erasable (enums, namespaces, parameter properties, decorators) is an
 * InternalError: the generator does not write it. Imports are kept as written (no elision of
 * unused value imports), as `verbatimModuleSyntax` does.
 */
export function stripTypes(text: string, fileName: string): string {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const edits: { start: number; end: number; text: string }[] = [];
  const remove = (start: number, end: number) => edits.push({ start, end, text: '' });
  const fail = (node: ts.Node, what: string): never => {
    const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    throw new InternalError(`${fileName}:${line + 1}: cannot strip ${what} (not erasable TypeScript)`);
  };
  /** A whole statement, its doc comment and the rest of its last line. */
  const removeStatement = (node: ts.Node) => {
    let end = node.end;
    while (end < text.length && (text[end] === ' ' || text[end] === '\t')) end++;
    if (text[end] === '\n') end++;
    remove(node.getStart(sf, true), end);
  };
  /** `: T` before a type node: from the colon (or `?`) after `after` to the type's end. */
  const removeAnnotation = (after: number, type: ts.Node) => remove(after, type.end);
  /** `<...>` around a list of type parameters or arguments. */
  const removeAngles = (list: ts.NodeArray<ts.Node>) => {
    const open = text.lastIndexOf('<', list.pos);
    const close = text.indexOf('>', list.end);
    if (open < 0 || close < 0) throw new InternalError(`${fileName}: unbalanced type brackets`);
    remove(open, close + 1);
  };
  const removeModifiers = (node: ts.Node) => {
    const modifiers = (node as { modifiers?: ts.NodeArray<ts.ModifierLike> }).modifiers;
    if (!modifiers) return;
    for (const m of modifiers) {
      switch (m.kind) {
        case ts.SyntaxKind.PublicKeyword:
        case ts.SyntaxKind.PrivateKeyword:
        case ts.SyntaxKind.ProtectedKeyword:
        case ts.SyntaxKind.ReadonlyKeyword:
        case ts.SyntaxKind.AbstractKeyword:
        case ts.SyntaxKind.OverrideKeyword:
          remove(m.getStart(sf), m.end + (text[m.end] === ' ' ? 1 : 0));
          break;
        case ts.SyntaxKind.DeclareKeyword:
          fail(node, "'declare'");
          break;
        case ts.SyntaxKind.Decorator:
          fail(node, 'decorators');
      }
    }
  };
  /** Specifiers without the type-only ones, or null where none is left. */
  const valueSpecifiers = (elements: ts.NodeArray<ts.ImportSpecifier | ts.ExportSpecifier>) => {
    const kept = elements.filter((e) => !e.isTypeOnly).map((e) => e.getText(sf));
    return kept.length === elements.length ? undefined : kept;
  };

  const visit = (node: ts.Node): void => {
    const kind = node.kind;
    // Tokens (identifiers, literals, keywords) hold nothing to delete; type nodes are deleted by
    // their parents. Most nodes of the generated code are tokens: this keeps the walk cheap.
    if (kind <= ts.SyntaxKind.LastToken) return;
    if (kind >= ts.SyntaxKind.FirstTypeNode && kind <= ts.SyntaxKind.LastTypeNode) return;
    switch (kind) {
      case ts.SyntaxKind.InterfaceDeclaration:
      case ts.SyntaxKind.TypeAliasDeclaration:
        removeStatement(node);
        return;
      case ts.SyntaxKind.EnumDeclaration:
        fail(node, 'an enum');
        return;
      case ts.SyntaxKind.ModuleDeclaration:
        fail(node, 'a namespace');
        return;
      case ts.SyntaxKind.ImportEqualsDeclaration:
        fail(node, "'import ='");
        return;
      case ts.SyntaxKind.ExportAssignment:
        if ((node as ts.ExportAssignment).isExportEquals) fail(node, "'export ='");
        break;
      case ts.SyntaxKind.ImportDeclaration: {
        const clause = (node as ts.ImportDeclaration).importClause;
        if (!clause) return;
        if (clause.isTypeOnly) {
          removeStatement(node);
          return;
        }
        const named = clause.namedBindings;
        if (named && ts.isNamedImports(named)) {
          const kept = valueSpecifiers(named.elements);
          if (kept?.length === 0 && !clause.name) {
            removeStatement(node);
            return;
          }
          if (kept?.length === 0) remove(clause.name!.end, named.end);
          else if (kept)
            edits.push({ start: named.getStart(sf), end: named.end, text: `{ ${kept.join(', ')} }` });
        }
        return;
      }
      case ts.SyntaxKind.ExportDeclaration: {
        const decl = node as ts.ExportDeclaration;
        if (decl.isTypeOnly) {
          removeStatement(node);
          return;
        }
        if (decl.exportClause && ts.isNamedExports(decl.exportClause)) {
          const kept = valueSpecifiers(decl.exportClause.elements);
          if (kept?.length === 0) {
            removeStatement(node);
            return;
          }
          if (kept) {
            const c = decl.exportClause;
            edits.push({ start: c.getStart(sf), end: c.end, text: `{ ${kept.join(', ')} }` });
          }
        }
        return;
      }
      case ts.SyntaxKind.FunctionDeclaration:
      case ts.SyntaxKind.MethodDeclaration:
      case ts.SyntaxKind.Constructor:
        if (!(node as ts.FunctionLikeDeclaration).body) {
          removeStatement(node); // an overload
          return;
        }
        break;
      case ts.SyntaxKind.PropertyDeclaration: {
        const p = node as ts.PropertyDeclaration;
        if (ts.getModifiers(p)?.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword)) {
          removeStatement(p);
          return;
        }
        if (p.questionToken) remove(p.questionToken.getStart(sf), p.questionToken.end);
        if (p.exclamationToken) remove(p.exclamationToken.getStart(sf), p.exclamationToken.end);
        if (p.type) removeAnnotation((p.questionToken ?? p.exclamationToken ?? p.name).end, p.type);
        break;
      }
      case ts.SyntaxKind.IndexSignature:
        removeStatement(node);
        return;
      case ts.SyntaxKind.Parameter: {
        const p = node as ts.ParameterDeclaration;
        if (ts.getModifiers(p)?.length) fail(p, 'a parameter property');
        if (ts.isIdentifier(p.name) && p.name.text === 'this') {
          const next = text.slice(p.end).match(/^\s*,\s*/)?.[0].length ?? 0;
          remove(p.getStart(sf), p.end + next);
          return;
        }
        if (p.questionToken) remove(p.questionToken.getStart(sf), p.questionToken.end);
        if (p.type) removeAnnotation((p.questionToken ?? p.name).end, p.type);
        break;
      }
      case ts.SyntaxKind.VariableDeclaration: {
        const v = node as ts.VariableDeclaration;
        if (v.exclamationToken) remove(v.exclamationToken.getStart(sf), v.exclamationToken.end);
        if (v.type) removeAnnotation((v.exclamationToken ?? v.name).end, v.type);
        break;
      }
      case ts.SyntaxKind.AsExpression:
      case ts.SyntaxKind.SatisfiesExpression: {
        const e = node as ts.AsExpression | ts.SatisfiesExpression;
        remove(e.expression.end, e.end);
        visit(e.expression);
        return;
      }
      case ts.SyntaxKind.NonNullExpression:
        remove(node.end - 1, node.end);
        break;
      case ts.SyntaxKind.TypeAssertionExpression: {
        const e = node as ts.TypeAssertion;
        remove(e.getStart(sf), e.expression.getStart(sf));
        visit(e.expression);
        return;
      }
      case ts.SyntaxKind.HeritageClause:
        if ((node as ts.HeritageClause).token === ts.SyntaxKind.ImplementsKeyword) {
          remove(node.getStart(sf) - (text[node.getStart(sf) - 1] === ' ' ? 1 : 0), node.end);
          return;
        }
        break;
    }
    removeModifiers(node);
    if (ts.isFunctionLike(node) || ts.isClassLike(node)) {
      const d = node as ts.SignatureDeclarationBase | ts.ClassLikeDeclarationBase;
      if (d.typeParameters) removeAngles(d.typeParameters);
    }
    if (ts.isFunctionLike(node) && (node as ts.SignatureDeclarationBase).type) {
      const f = node as ts.SignatureDeclarationBase;
      const close = text.lastIndexOf(')', f.type!.pos);
      removeAnnotation(close + 1, f.type!);
    }
    if (ts.isMethodDeclaration(node) && node.questionToken) {
      remove(node.questionToken.getStart(sf), node.questionToken.end);
    }
    if (
      (ts.isCallExpression(node) ||
        ts.isNewExpression(node) ||
        ts.isTaggedTemplateExpression(node) ||
        ts.isExpressionWithTypeArguments(node)) &&
      node.typeArguments
    ) {
      removeAngles(node.typeArguments);
    }
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(sf, visit);

  edits.sort((a, b) => a.start - b.start);
  let out = '';
  let at = 0;
  for (const e of edits) {
    if (e.start < at) throw new InternalError(`${fileName}: overlapping type syntax at ${e.start}`);
    out += text.slice(at, e.start) + e.text;
    at = e.end;
  }
  return out + text.slice(at);
}
