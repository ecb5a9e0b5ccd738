import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ts } from 'ts-morph';
import { InternalError } from '../../diagnostics/diagnostic.js';
import { RUNTIME_SRC as RUNTIME, runtimePackageEntry } from './bundle.js';

/**
 * runtime.d.ts of a generated package, generated from the runtime's own source: the TypeScript
 * declarations of runtime/src/package/index.ts and the runtime modules it imports (emitted by the
 * compiler API from the sources, or read from the build's .d.ts files under dist/), bundled into
 * one module: imports between them dropped, only what the entry exports exported, and only the
 * declarations those exports reach kept.
 *
 * WebGPU's types are not in TypeScript's DOM lib, and a package must typecheck without extra type
 * packages, so each `GPU…` type the declarations use becomes a module-local alias: the global type
 * where WebGPU's types are loaded (e.g. @webgpu/types), else `any`.
 *
 * The text depends only on the runtime's declarations, so `npm run build` writes it once
 * (runtime-dts.json next to this module in dist/, with a hash of the declarations it came from) and
 * a compile from the build reads it: building the TypeScript program (lib.dom) took a few hundred
 * ms of every compile. The file is used only while that hash matches the runtime declarations
 * under dist/ (a `tsc` without the build step cannot leave a stale one in use); otherwise, and from
 * the sources (tests, tsx), the declarations are generated, once per process.
 */

const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  strict: true,
  declaration: true,
  emitDeclarationOnly: true,
  skipLibCheck: true,
  types: [],
};

/** WebGPU's declarations, when installed (they make emitted types exact; not needed otherwise). */
function webgpuTypes(): string[] {
  try {
    return [createRequire(import.meta.url).resolve('@webgpu/types/dist/index.d.ts')];
  } catch {
    return [];
  }
}

interface Declarations {
  readonly file: string;
  readonly source: ts.SourceFile;
}

/** Each runtime module's declarations, from the program rooted at the package entry. */
function declarations(program: ts.Program): Declarations[] {
  const out: Declarations[] = [];
  for (const sf of program.getSourceFiles()) {
    if (!resolve(sf.fileName).startsWith(`${RUNTIME}/`)) continue;
    let text = sf.isDeclarationFile ? sf.text : undefined;
    if (text === undefined) {
      program.emit(
        sf,
        (name, data) => {
          if (name.endsWith('.d.ts')) text = data;
        },
        undefined,
        true,
      );
    }
    if (text === undefined) throw new InternalError(`no declarations emitted for ${sf.fileName}`);
    out.push({ file: sf.fileName, source: ts.createSourceFile(sf.fileName, text, ts.ScriptTarget.ES2022) });
  }
  return out;
}

const declaredNames = (stmt: ts.Statement): string[] => {
  if (ts.isVariableStatement(stmt)) {
    return stmt.declarationList.declarations.flatMap((d) => (ts.isIdentifier(d.name) ? [d.name.text] : []));
  }
  const name = (stmt as { name?: ts.Node }).name;
  return name && ts.isIdentifier(name) ? [name.text] : [];
};

/** The names a declaration refers to as types (`T`, `typeof x`, `extends C`). */
function typeNames(node: ts.Node): string[] {
  const out: string[] = [];
  const leftmost = (n: ts.EntityName | ts.Expression): void => {
    if (ts.isIdentifier(n)) out.push(n.text);
    else if (ts.isQualifiedName(n)) leftmost(n.left);
    else if (ts.isPropertyAccessExpression(n)) leftmost(n.expression);
  };
  const walk = (n: ts.Node): void => {
    if (ts.isTypeReferenceNode(n)) leftmost(n.typeName);
    else if (ts.isTypeQueryNode(n)) leftmost(n.exprName);
    else if (ts.isExpressionWithTypeArguments(n)) leftmost(n.expression);
    ts.forEachChild(n, walk);
  };
  walk(node);
  return out;
}

/**
 * A declaration's text with its own doc comment (not a module comment before it), without its
 * `export` modifier and with `import("./x.js").T` as `T`.
 */
function local(stmt: ts.Statement, sf: ts.SourceFile): string {
  const start = stmt.getStart(sf);
  let text = sf.text.slice(start, stmt.end);
  const exported = ts
    .getModifiers(stmt as ts.HasModifiers)
    ?.find((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  if (exported) {
    const at = exported.getStart(sf) - start;
    text = text.slice(0, at) + text.slice(at + 'export '.length);
  }
  const doc = sf.text.slice(stmt.getFullStart(), start).match(/\/\*\*(?:(?!\*\/)[\s\S])*\*\/\s*$/)?.[0];
  return `${doc ?? ''}${text}`.replace(/import\("\.[^"]*"\)\./g, '').trim();
}

function bundle(): string {
  const entry = runtimePackageEntry('.d.ts');
  const program = ts.createProgram([entry, ...webgpuTypes()], OPTIONS);
  const checker = program.getTypeChecker();
  const entrySymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!);
  if (!entrySymbol) throw new InternalError(`${entry} is not a module`);
  const exports = checker.getExportsOfModule(entrySymbol).map((s) => {
    const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    return { name: s.name, local: target.name };
  });

  // Every top-level declaration by name (interfaces and overloads may repeat within one module).
  const byName = new Map<string, { file: string; texts: string[]; uses: Set<string> }>();
  for (const { file, source } of declarations(program)) {
    for (const stmt of source.statements) {
      if (ts.isImportDeclaration(stmt) || ts.isExportDeclaration(stmt)) continue;
      for (const name of declaredNames(stmt)) {
        const seen = byName.get(name) ?? { file, texts: [], uses: new Set<string>() };
        if (seen.file !== file) {
          throw new InternalError(`runtime.d.ts: ${name} is declared in both ${seen.file} and ${file}`);
        }
        seen.texts.push(local(stmt, source));
        for (const use of typeNames(stmt)) seen.uses.add(use);
        byName.set(name, seen);
      }
    }
  }
  // Keep what the exports reach.
  const kept = new Set<string>();
  const visit = (name: string) => {
    const decl = byName.get(name);
    if (!decl || kept.has(name)) return;
    kept.add(name);
    for (const use of decl.uses) visit(use);
  };
  for (const e of exports) {
    if (!byName.has(e.local)) throw new InternalError(`runtime.d.ts: no declaration of ${e.local}`);
    visit(e.local);
  }
  const body = [...kept].flatMap((name) => byName.get(name)!.texts);
  const unique = [...new Set(body)];
  const gpuTypes = [...new Set(unique.join('\n').match(/\bGPU[A-Z]\w*/g) ?? [])].sort();
  const specifiers = exports
    .map((e) => (e.name === e.local ? e.name : `${e.local} as ${e.name}`))
    .sort((a, b) => a.localeCompare(b));
  return [
    '// Generated by polyc from runtime/src/package/index.ts: declarations of runtime.js. Do not edit.',
    '',
    ...gpuTypes.map(
      (t) => `type ${t} = typeof globalThis extends { ${t}: { prototype: infer T } } ? T : any;`,
    ),
    '',
    unique.join('\n\n'),
    '',
    `export { ${specifiers.join(', ')} };`,
    '',
  ].join('\n');
}

let cached: string | undefined;

/** The package's runtime.d.ts (computed once per process). */
export function runtimeDeclarations(): string {
  cached ??= prebuilt() ?? bundle();
  return cached;
}

/** Where the build writes runtime.d.ts: next to this module (so only ever in dist/). */
const PREBUILT = resolve(dirname(fileURLToPath(import.meta.url)), 'runtime-dts.json');

interface Prebuilt {
  /** `declarationsHash()` when it was written. */
  readonly declarations: string;
  readonly text: string;
}

/**
 * SHA-256 of every .d.ts file under the runtime's directory (paths and contents), or null where
 * the runtime is TypeScript sources: what `bundle()` reads, so an unchanged hash means an
 * unchanged result.
 */
function declarationsHash(): string | null {
  if (!runtimePackageEntry('.d.ts').endsWith('.d.ts')) return null;
  const hash = createHash('sha256');
  const files = (readdirSync(RUNTIME, { recursive: true }) as string[])
    .map((f) => resolve(RUNTIME, f))
    .filter((f) => f.endsWith('.d.ts'))
    .sort();
  for (const file of files) {
    hash
      .update(`${relative(RUNTIME, file)}\0`)
      .update(readFileSync(file))
      .update('\0');
  }
  return hash.digest('hex');
}

/** The build's runtime.d.ts, when there is one and it was made from the declarations here. */
function prebuilt(): string | undefined {
  if (!existsSync(PREBUILT)) return undefined;
  const declarations = declarationsHash();
  if (declarations === null) return undefined;
  try {
    const file = JSON.parse(readFileSync(PREBUILT, 'utf8')) as Prebuilt;
    return file.declarations === declarations && typeof file.text === 'string' ? file.text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The build step (`npm run build`, after tsc): generates runtime.d.ts from the runtime's
 * declarations under dist/ and writes it with their hash. Returns the file written.
 */
export function writePrebuiltRuntimeDeclarations(): string {
  const declarations = declarationsHash();
  if (declarations === null) {
    throw new InternalError(`the runtime under ${RUNTIME} is not built: run the build's tsc first`);
  }
  const file: Prebuilt = { declarations, text: bundle() };
  writeFileSync(PREBUILT, `${JSON.stringify(file)}\n`);
  return PREBUILT;
}
