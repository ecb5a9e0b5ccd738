import { printStructure, type SourceFileStructure, ts } from 'ts-morph';
import { InternalError } from '../../diagnostics/diagnostic.js';
import { runtimeDeclarations } from '../package/runtime-dts.js';
import { stripTypes } from './strip-types.js';

/**
 * Turns the generated TypeScript (ts-morph structures for index.ts, cpu.ts and webgpu.ts) into
 * the package's JavaScript and declarations, in memory. ts-morph prints each structure to text,
 * and each file is turned into JavaScript alone by deleting its type syntax (`stripTypes`: the
 * JavaScript keeps the source's layout and comments), index.d.ts with `ts.transpileDeclaration`
 * (the API is written with explicit types, as isolated declarations require). No program is
 * built: type-checking the large generated modules against lib.dom for a program emit took a
 * quarter of a large model's compile, and the generator's tests type-check generated code;
 * `ts.transpileModule` reprinting every node of them took over a second more.
 */

export interface GeneratedSources {
  readonly index: SourceFileStructure;
  readonly cpu: SourceFileStructure;
  readonly webgpu: SourceFileStructure;
}

export interface EmittedCode {
  /** index.js, index.d.ts, cpu.js, webgpu.js, runtime.d.ts. */
  readonly files: ReadonlyMap<string, string>;
  /** The TypeScript sources, by file name (index.ts, cpu.ts, webgpu.ts, runtime.d.ts). */
  readonly sources: ReadonlyMap<string, string>;
}

export const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  strict: true,
  declaration: true,
  removeComments: false,
  skipLibCheck: true,
  newLine: ts.NewLineKind.LineFeed,
};

export function emitPackageCode(sources: GeneratedSources): EmittedCode {
  const texts = new Map<string, string>();
  const out = new Map<string, string>();
  for (const name of ['index', 'cpu', 'webgpu'] as const) {
    const text = printStructure(sources[name]);
    texts.set(`${name}.ts`, text);
    out.set(`${name}.js`, transpile(text, `${name}.ts`));
  }
  const declarations = ts.transpileDeclaration(texts.get('index.ts')!, {
    fileName: 'index.ts',
    compilerOptions: COMPILER_OPTIONS,
    reportDiagnostics: true,
  });
  if (declarations.diagnostics?.length) {
    const messages = declarations.diagnostics.map((d) =>
      ts.flattenDiagnosticMessageText(d.messageText, '\n'),
    );
    throw new InternalError(`index.ts needs explicit types for its declarations:\n${messages.join('\n')}`);
  }
  out.set('index.d.ts', declarations.outputText);
  const runtimeDts = runtimeDeclarations();
  out.set('runtime.d.ts', runtimeDts);
  texts.set('runtime.d.ts', runtimeDts);
  return { files: out, sources: texts };
}

/** One generated module as JavaScript (no declarations), e.g. cpu.ts alone for tests. */
export function emitJavaScript(structure: SourceFileStructure): string {
  return transpile(printStructure(structure), 'module.ts');
}

function transpile(text: string, fileName: string): string {
  return stripTypes(text, fileName);
}
