import { type FunctionDeclarationStructure, type SourceFileStructure, StructureKind } from 'ts-morph';
import type { CpuProgram } from './cpu.js';
import { constant, engineInterface } from './structures.js';

/**
 * cpu.ts of a generated package, as a ts-morph structure: one function per distinct loop nest,
 * `forward` calling them in order with the arena and weights offsets as literals, `createCpu`, and,
 * when some ops have WebAssembly SIMD kernels, the module (`KERNELS`, base64) and `forwardWasm`,
 * which calls the wasm kernel of each op that has one and the TypeScript loop of the others, on an
 * arena and weights that live in the module's memory (the kernels that split over threads go
 * through `S`, runtime/src/package/threads.ts). `createCpu` runs `forwardWasm` when it is
 * given the instantiated kernels (the package's index.js instantiates them where WebAssembly SIMD
 * is available) and `forward` otherwise.
 */

export function cpuSource(p: CpuProgram, modelName: string): SourceFileStructure {
  const kernels: FunctionDeclarationStructure[] = p.kernels.map((k) => ({
    kind: StructureKind.Function,
    name: k.name,
    docs: [k.doc],
    parameters: [
      { name: 'y', type: 'Float32Array' },
      { name: 'yo', type: 'number' },
      ...Array.from({ length: k.arity }, (_, i) => [
        { name: `x${i}`, type: 'Float32Array' },
        { name: `o${i}`, type: 'number' },
      ]).flat(),
    ],
    returnType: 'void',
    statements: [k.body.join('\n')],
  }));
  const forward: FunctionDeclarationStructure = {
    kind: StructureKind.Function,
    name: 'forward',
    docs: [
      `One image of ${modelName}: reads the input at A[${p.input.offset}..], leaves the output at ` +
        `A[${p.output.offset}..]. ${p.calls.length} loop nests, ${p.kernels.length} distinct.`,
    ],
    parameters: [
      { name: 'A', type: 'Float32Array' },
      { name: 'W', type: 'Float32Array' },
    ],
    returnType: 'void',
    statements: p.calls.map((c) => `// ${c.label}\n${c.kernel}(${c.args});`),
  };
  const wasm = p.wasm;
  const forwardWasm: FunctionDeclarationStructure[] = wasm
    ? [
        {
          kind: StructureKind.Function,
          name: 'forwardWasm',
          docs: [
            `\`forward\` with ${wasm.calls} of the ${p.calls.length} loop nests as WebAssembly SIMD kernels ` +
              `(byte pointers: the arena at 0, the weights at ${wasm.weightsOffset * 4}).`,
          ],
          parameters: [
            { name: 'A', type: 'Float32Array' },
            { name: 'W', type: 'Float32Array' },
            { name: 'X', type: 'Kernels' },
            { name: 'S', type: 'Split' },
          ],
          returnType: 'void',
          statements: p.calls.map((c) =>
            !c.wasm
              ? `// ${c.label}\n${c.kernel}(${c.args});`
              : c.wasm.split === undefined
                ? `// ${c.label}\nX.k${c.wasm.index}!(${c.wasm.args});`
                : `// ${c.label} (split over the threads)\nS(${c.wasm.index}, ${c.wasm.split}, ${c.wasm.args});`,
          ),
        },
      ]
    : [];
  const loop = (fn: string) => `const out = new Float32Array(batch * ${p.output.perImage});
    for (let b = 0; b < batch; b++) {
      A.set(input.subarray(b * ${p.input.perImage}, (b + 1) * ${p.input.perImage}), ${p.input.offset});
      ${fn};
      out.set(A.subarray(${p.output.offset}, ${p.output.offset + p.output.perImage}), b * ${p.output.perImage});
    }
    return out;`;
  const wasmEngine = wasm
    ? `if (kernels) {
  const buffer = kernels.memory.buffer;
  const A = new Float32Array(buffer, 0, ${p.arenaFloats});
  const W = new Float32Array(buffer, ${wasm.weightsOffset * 4}, weights.length);
  W.set(weights);
  const X = kernels.kernels;
  const S = kernels.split;
  return {
    adapterInfo: \`CPU (WebAssembly SIMD kernels, \${kernels.threads} thread\${kernels.threads === 1 ? '' : 's'})\`,
    run(input: Float32Array, batch: number): Float32Array {
      ${loop('forwardWasm(A, W, X, S)')}
    },
    destroy(): void {
      A.fill(0);
      kernels.destroy();
    },
  };
}
`
    : '// No op of this model has a WebAssembly kernel.\nvoid kernels;\n';
  const create: FunctionDeclarationStructure = {
    kind: StructureKind.Function,
    name: 'createCpu',
    isExported: true,
    docs: [
      'The CPU backend: images run one after the other in one preallocated arena; on the WebAssembly ' +
        'SIMD kernels when `kernels` (the instantiated `KERNELS`) is given, else on the TypeScript loops.',
    ],
    parameters: [
      { name: 'weights', type: 'Float32Array' },
      {
        name: 'kernels',
        type: '{ memory: WebAssembly.Memory; kernels: Kernels; split: Split; threads: number; destroy(): void } | null',
      },
    ],
    returnType: 'CpuEngine',
    statements: [
      `${wasmEngine}const A = new Float32Array(${p.arenaFloats});
return {
  adapterInfo: 'CPU (generated TypeScript kernels)',
  run(input: Float32Array, batch: number): Float32Array {
    ${loop('forward(A, weights)')}
  },
  destroy(): void {
    A.fill(0);
  },
};`,
    ],
  };
  return {
    kind: StructureKind.SourceFile,
    statements: [
      `// Generated by polyc: the CPU kernels of ${modelName}. Do not edit.`,
      constant(
        'K',
        `Float32Array.of(${p.literals.map(String).join(', ')})`,
        'Scalar constants of fused regions (float32).',
      ),
      constant(
        'ACC',
        `new Float64Array(${p.scratch.acc})`,
        'Float64 accumulator of one convolution output plane.',
      ),
      constant('ROW', `new Float64Array(${p.scratch.row})`, 'Float64 accumulator of one matmul output row.'),
      constant('RED', `new Float64Array(${p.scratch.red})`, 'Float64 accumulators of one reduction.'),
      constant(
        'KERNELS',
        wasm ? `'${Buffer.from(wasm.bytes).toString('base64')}'` : 'null',
        'The WebAssembly SIMD kernels (base64), or null when no op has one.',
        true,
      ),
      'type Kernels = Readonly<Record<string, (...pointers: number[]) => void>>;',
      '/** Runs kernel `k<index>` over output channels [0, channels), split over the threads. */',
      'type Split = (index: number, channels: number, ...pointers: number[]) => void;',
      engineInterface('CpuEngine', 'Float32Array', true),
      ...kernels,
      forward,
      ...forwardWasm,
      create,
    ],
  };
}
