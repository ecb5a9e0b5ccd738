import { Project, type SourceFileStructure, ts } from 'ts-morph';
import { InternalError } from '../../diagnostics/diagnostic.js';
import { runtimeDeclarations } from '../package/runtime-dts.js';

/**
 * Turns the generated TypeScript (ts-morph structures for index.ts, cpu.ts and webgpu.ts) into
 * the package's JavaScript and declarations with ts-morph's emitter, in memory.
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
  const project = new Project({ useInMemoryFileSystem: true, compilerOptions: COMPILER_OPTIONS });
  const files = [
    project.createSourceFile('/pkg/index.ts', sources.index),
    project.createSourceFile('/pkg/cpu.ts', sources.cpu),
    project.createSourceFile('/pkg/webgpu.ts', sources.webgpu),
  ];
  const runtimeDts = runtimeDeclarations();
  project.createSourceFile('/pkg/runtime.d.ts', runtimeDts);
  const texts = new Map<string, string>(files.map((f) => [f.getBaseName(), f.getFullText()]));
  texts.set('runtime.d.ts', runtimeDts);
  const emitted = project.emitToMemory();
  const out = new Map<string, string>();
  for (const f of emitted.getFiles()) {
    const name = f.filePath.slice(f.filePath.lastIndexOf('/') + 1);
    if (name.endsWith('.js') || name === 'index.d.ts') out.set(name, f.text);
  }
  out.set('runtime.d.ts', runtimeDts);
  for (const name of ['index.js', 'index.d.ts', 'cpu.js', 'webgpu.js']) {
    if (!out.has(name)) throw new InternalError(`ts-morph emitted no ${name}`);
  }
  return { files: out, sources: texts };
}

/** One generated module as JavaScript (no declarations), e.g. cpu.ts alone for tests. */
export function emitJavaScript(structure: SourceFileStructure): string {
  const project = new Project({
    useInMemoryFileSystem: true,
    compilerOptions: { ...COMPILER_OPTIONS, declaration: false },
  });
  project.createSourceFile('/pkg/module.ts', structure);
  const js = project
    .emitToMemory()
    .getFiles()
    .find((f) => f.filePath.endsWith('.js'));
  if (!js) throw new InternalError('ts-morph emitted no JavaScript');
  return js.text;
}
