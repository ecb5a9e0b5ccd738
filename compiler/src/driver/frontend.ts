import { type Diagnostic, DiagnosticError, error, note } from '../diagnostics/diagnostic.js';
import { type Elaborated, elaborate, type Settings } from '../frontend/elaborate.js';
import { DEFAULT_LIMITS, type Limits } from '../frontend/limits.js';
import { verifyModule } from '../ir/verify.js';
import type { Decl } from '../syntax/ast.js';
import { parse } from '../syntax/parse.js';

/** How deeply imports may chain (`a` imports `b` imports `c` ...): loading recurses along them. */
export const MAX_IMPORT_DEPTH = 64;

/** How the compiler reads source files; the CLI passes the file system, tests pass a map. */
export interface SourceHost {
  readFile(path: string): string | null;
}

export interface FrontendResult {
  readonly model: Elaborated | null;
  readonly diagnostics: readonly Diagnostic[];
  /** Every source text read, by path: the diagnostics renderer shows lines from them. */
  readonly sources: ReadonlyMap<string, string>;
}

/**
 * Parses `entry` and its imports, elaborates the model and verifies the IR. Pure apart from
 * `host.readFile`; never throws for bad input.
 */
export function buildModel(
  entry: string,
  host: SourceHost,
  settings: Settings = {},
  modelName?: string,
  limits: Limits = DEFAULT_LIMITS,
): FrontendResult {
  const sources = new Map<string, string>();
  const diagnostics: Diagnostic[] = [];
  const decls: Decl[] = [];
  const loaded = new Set<string>();

  const load = (file: string, chain: readonly string[]): void => {
    if (loaded.has(file)) return;
    loaded.add(file);
    const text = host.readFile(file);
    if (text === null) {
      // Imports are checked where they are written; this is the entry file.
      diagnostics.push(error('E0702', `cannot read '${file}': no such file`));
      return;
    }
    sources.set(file, text);
    const { ast, diagnostics: syntax } = parse(text, file);
    diagnostics.push(...syntax);
    if (!ast) return;
    for (const d of ast.decls) {
      if (d.kind !== 'import') continue;
      const target = joinPath(dirname(file), d.path);
      if (chain.includes(target)) {
        diagnostics.push(error('E0204', `import cycle: ${[...chain, target].join(' -> ')}`, d.span));
      } else if (chain.length >= MAX_IMPORT_DEPTH) {
        diagnostics.push(error('E0209', `imports chain deeper than ${MAX_IMPORT_DEPTH} files here`, d.span));
      } else if (host.readFile(target) === null) {
        diagnostics.push(
          error('E0203', `cannot read imported file '${d.path}' (looked for ${target})`, d.span),
        );
      } else {
        load(target, [...chain, target]);
      }
    }
    decls.push(...ast.decls);
  };
  load(entry, [entry]);
  if (diagnostics.length > 0) return { model: null, diagnostics: sortDiagnostics(diagnostics), sources };

  try {
    const model = elaborate(decls, settings, modelName, limits);
    const problems = verifyModule(model.module);
    if (problems.length > 0) {
      return {
        model: null,
        diagnostics: problems.map((p) => ({
          ...p,
          notes: [...p.notes, note('this is a compiler bug; please report it')],
        })),
        sources,
      };
    }
    return { model, diagnostics: [], sources };
  } catch (e) {
    if (e instanceof DiagnosticError) return { model: null, diagnostics: e.diagnostics, sources };
    throw e;
  }
}

function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return ds.sort((a, b) => {
    const fa = a.span?.file ?? '';
    const fb = b.span?.file ?? '';
    if (fa !== fb) return fa < fb ? -1 : 1;
    return (a.span?.line ?? 0) - (b.span?.line ?? 0) || (a.span?.col ?? 0) - (b.span?.col ?? 0);
  });
}

export function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '.' : i === 0 ? '/' : p.slice(0, i);
}

/** POSIX-style join that resolves `.` and `..` segments (imports are relative to the importer). */
export function joinPath(base: string, rel: string): string {
  if (rel.startsWith('/')) return normalize(rel);
  return normalize(`${base}/${rel}`);
}

function normalize(p: string): string {
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (seg === '..' && abs) continue;
    else out.push(seg);
  }
  return (abs ? '/' : '') + (out.join('/') || (abs ? '' : '.'));
}
