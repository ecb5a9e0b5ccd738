import { ts } from 'ts-morph';
import { describe, expect, it } from 'vitest';
import { stripTypes } from '../../compiler/src/codegen/ts/strip-types.js';

// stripTypes must give the program TypeScript's own transpile gives: compared after reprinting
// both with the TypeScript printer (which normalises layout).
const reprint = (code: string, fileName: string) =>
  ts.transpileModule(code, {
    fileName,
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, allowJs: true },
  }).outputText;

const SOURCE = `// header comment
import { type Backend, createGpuBackend, dispatch, type GpuProgram } from "./runtime.js";
import type { Plan } from "./plan.js";
import { type OnlyType } from "./only.js";
export type { Plan };
/** An engine. */
export interface Engine {
    readonly info: string;
    run(input: Float32Array, batch: number): Float32Array;
}
type Pair<T> = [T, T];
const K: readonly number[] = [1, 2];
let late!: number;
function id<T extends object>(x: T, y?: number, ...rest: number[]): T { return x; }
function over(a: number): number;
function over(a: string): string;
function over(a: number | string): number | string { return a; }
export class Box<T> implements Engine {
    readonly info: string = "box";
    private count?: number;
    declare tag: string;
    [key: string]: unknown;
    constructor(info: string) { this.info = info; }
    run(this: Box<T>, input: Float32Array, batch: number): Float32Array { return input.subarray(0, batch); }
    get size(): number { return this.count! * 2; }
}
const engine = { run(input: Float32Array): Float32Array { return input; } } satisfies Partial<Engine>;
const arrow = async (a: number, b: Pair<number>): Promise<number> => a + b[0]! + b[1]!;
const asserted = K as unknown as number[];
const cast = <number>late;
export async function createGpu(weights: Float32Array, device?: unknown): Promise<Backend> {
    const program: GpuProgram = { weights } as unknown as GpuProgram;
    return createGpuBackend(program, device, new Map<string, number>(), dispatch, id<object>(K), over(1), late, engine, arrow, asserted, cast);
}
`;

describe('stripTypes', () => {
  it('gives the program TypeScript transpiles to, keeping comments and layout', () => {
    const js = stripTypes(SOURCE, 'module.ts');
    expect(reprint(js, 'module.js')).toBe(reprint(SOURCE, 'module.ts'));
    expect(js).toContain('// header comment');
    expect(js).toContain('import { createGpuBackend, dispatch } from "./runtime.js";');
    expect(js).not.toMatch(/interface|Float32Array\)|: number|only\.js|plan\.js/);
    expect(js).toContain('function id(x, y, ...rest) { return x; }');
  });

  it('refuses syntax that is not erasable', () => {
    expect(() => stripTypes('enum E { A }', 'e.ts')).toThrow(/enum/);
    expect(() => stripTypes('@d class C {}', 'd.ts')).toThrow(/decorators/);
    expect(() => stripTypes('namespace N { export const a = 1; }', 'n.ts')).toThrow(/namespace/);
    expect(() => stripTypes('class C { constructor(private a: number) {} }', 'c.ts')).toThrow(
      /parameter property/,
    );
  });
});
