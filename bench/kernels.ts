/**
 * `npm run bench:kernels`: micro-benchmarks of the WGSL kernel templates. Each case is a small model
 * whose kernels are the unit under test, compiled several ways and timed in the same process on the
 * same adapter, the variants' runs interleaved. Median wall time of `--runs` inferences (upload,
 * dispatches, readback) after `--warmup`, and the largest difference from the first variant's
 * output. Not a test; on SwiftShader read the ratios, not the times. Sections (`--only`):
 * - gemm: one pointwise conv per stage (and one LayerNorm folded into a GEMM) with the
 *   register-blocked GEMM kernels (the channel tile from the rule, and forced to 4 and 16) against
 *   the previous path (4 channels of one pixel per invocation, scalar loads);
 * - depthwise: CPolyNeXt-T's PolyConv units (chained `--chain` times so the upload and readback
 *   weigh less), the downsampling depthwise convs and APolyNeXt-T's attention q/k/v convs, today's
 *   codegen against the WGSL codegen of a base revision (`--base`, default the merge-base with main);
 * - polyconv: the same PolyConv units with the staged template (workgroup memory, two barriers)
 *   against the register template (sliding windows down row strips) with the rule's tile and with
 *   the tiles forced by `--tiles` (e.g. `4x8,7x7`);
 * - conv: general convs (the C-T stem, stride-2 downsampling, a 3x3) with the implicit-GEMM
 *   template against the generic path;
 * - norm: CPolyNeXt-T's two LayerNorm units at each stage's shape, the per-pixel norm template
 *   against the generic path (one invocation per element, statistics recomputed per element);
 * - tile: CPolyNeXt-T's PolyMLPs (LayerNorm, up-projection, product of halves, down-projection,
 *   residual; chained `--chain` times) and a PolyConv end (conv, LayerNorm, residual), each one
 *   tile kernel, at 64 invocations per workgroup against the rule's (TILE_WORKGROUP_SIZE);
 * - layout: CPolyNeXt-T cells (PolyConv and PolyMLP, chained `--chain` times) at the 14x14 and 7x7
 *   stages' shapes, and CPolyNeXt-T and APolyNeXt-T at 224x224, every value NCHW against the
 *   layouts assign-layouts records (NC4HW4 where H*W % 4 != 0);
 * - attention: polynomial attention units (APolyNeXt-T's stages and others), the register template
 *   with 1, 2 and 4 queries per invocation, Q' rows in registers or reloaded per key group, against
 *   the codegen of a base revision (`--base`).
 *
 *   npm run bench:kernels -- [--only gemm,depthwise,polyconv,conv,norm,tile,layout,attention] [--cases <substring>,...]
 *                            [--runs 5] [--warmup 1] [--chain 4] [--base <rev>] [--tiles 4x8,...]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { AnalysisContext } from '../compiler/src/analysis/context.js';
import { ATTENTION_QUERIES } from '../compiler/src/codegen/wgsl/attention.js';
import { withLayout } from '../compiler/src/codegen/wgsl/expr.js';
import { chooseChannels } from '../compiler/src/codegen/wgsl/gemm.js';
import { type KernelOptions, renderKernel } from '../compiler/src/codegen/wgsl/kernels.js';
import { buildPlan, type CompiledPlan } from '../compiler/src/codegen/wgsl/plan.js';
import { buildModel } from '../compiler/src/driver/frontend.js';
import { randomInput } from '../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../compiler/src/driver/run.js';
import { packWeights } from '../compiler/src/driver/webgpu.js';
import type { Module, Op } from '../compiler/src/ir/types.js';
import { runPasses } from '../compiler/src/passes/manager.js';
import { parsePipeline } from '../compiler/src/passes/pipeline.js';
import { WebGpuModel } from '../runtime/src/index.js';
import { buildExampleModel, median, relDiff, TIMING_OPTIONS, timing } from './report.js';

const { values } = parseArgs({
  options: {
    ...TIMING_OPTIONS,
    runs: { type: 'string', default: '5' },
    only: { type: 'string', default: 'gemm,depthwise,polyconv,conv,norm,tile,layout,attention' },
    tiles: { type: 'string', default: '' },
    cases: { type: 'string', default: '' },
    chain: { type: 'string', default: '4' },
    base: { type: 'string' },
  },
});
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
const { runs, warmup } = timing(values);
const chain = Number(values.chain);

interface Case {
  readonly name: string;
  /** The model's source, or an example model by name (examples/<name>.poly at 224x224). */
  readonly source: string;
  readonly example?: boolean;
}

interface Variant {
  readonly name: string;
  /** The optimised module's plan, with kernels rendered this variant's way. */
  readonly build: (m: Module) => CompiledPlan;
}

interface Section {
  readonly name: string;
  readonly cases: readonly Case[];
  /** The first is the baseline the others are compared with. */
  readonly variants: () => Promise<readonly Variant[]>;
  /** Whether a case must compile to one kernel (so the time is the template's alone). */
  readonly oneKernel?: boolean;
}

const withOptions = (name: string, options: KernelOptions): Variant => ({
  name,
  build: (m) => buildPlan(m, 1, new AnalysisContext(), (u) => renderKernel(u, options)),
});

const pointwise = (k: number, cout: number, size: number): Case => ({
  name: `pw${k}->${cout}@${size} (rule ${chooseChannels(cout, 1)}x4)`,
  source: `model m(x: f32[B, ${k}, ${size}, ${size}]) {\n  return pwconv(self.p, x, out=${cout})\n}`,
});

// CPolyNeXt-T's PolyConv units: dw1 is k3 dilation 2 in stage 1, k5 dilation 2 after.
const POLYCONV_SHAPES = [
  [48, 56, 3],
  [96, 28, 5],
  [144, 14, 5],
  [216, 7, 5],
] as const;

const polyconv = (c: number, h: number, k1: number): Case => ({
  name: `polyconv ${c}x${h}x${h} dw1 k${k1} d2`,
  source: `block pc(self: path, x: tensor) {
  return dwconv(self.m, dwconv(self.a1, x, k=${k1}, dilation=2) * flip(dwconv(self.a2, x, k=3)), k=3)
}
model m(x: f32[B, ${c}, ${h}, ${h}]) {
  y0 = x
${Array.from({ length: chain }, (_, i) => `  y${i + 1} = pc(self.p${i}, y${i})`).join('\n')}
  return y${chain}
}`,
});

const depthwise = (c: number, h: number, k: number, stride: number): Case => ({
  name: `depthwise ${c}x${h}x${h} k${k} s${stride}`,
  source: `model m(x: f32[B, ${c}, ${h}, ${h}]) {\n  return dwconv(self.d, x, k=${k}, stride=${stride})\n}`,
});

const conv = (cin: number, cout: number, size: number, k: number, stride: number): Case => ({
  name: `conv ${k}x${k}s${stride} ${cin}->${cout}@${size}`,
  source: `model m(x: f32[B, ${cin}, ${size}, ${size}]) {\n  return conv2d(self.c, x, out=${cout}, k=${k}, stride=${stride})\n}`,
});

/**
 * Polynomial attention over `heads` heads of `dim` channels at size x size (APolyNeXt's
 * `(S * s[h] + 1)^4`, L1-normalised over keys), q, k and v slices of one input.
 */
const attention = (heads: number, dim: number, size: number): Case => {
  const c = heads * dim;
  const view = (from: number) =>
    `reshape(x[:, ${from}:${from + c}], [batch, ${heads}, ${dim}, ${size * size}])`;
  return {
    name: `attention ${heads}x${dim}x${size * size}`,
    source: `model m(x: f32[B, ${3 * c}, ${size}, ${size}]) {
  batch, _, H, W = x.shape
  P = (transpose(${view(0)}, [0, 1, 3, 2]) @ ${view(c)} * sigmoid(param(self.s, [1, ${heads}, 1, 1])) + 1) ^ 4
  return reshape(${view(2 * c)} @ transpose(l1norm(P, axis=3), [0, 1, 3, 2]), [batch, ${c}, H, W])
}`,
  };
};

/** The cell input's scaled sum of two tensors, normalised (`cells.*.postprocess:norm`). */
const cellInput = (c: number, size: number): Case => ({
  name: `cell${c}@${size}`,
  source: `model m(x: f32[B, ${2 * c}, ${size}, ${size}]) {
  return layernorm2d(self.n, scale(self.p0, x[:, :${c}]) + scale(self.p1, x[:, ${c}:]))
}`,
});

/** LayerNorm of a conv's output plus the residual (`cells.*:poly_conv`). */
const residual = (c: number, size: number): Case => ({
  name: `res${c}@${size}`,
  source: `model m(x: f32[B, ${2 * c}, ${size}, ${size}]) {\n  return layernorm2d(self.n, x[:, :${c}]) + x[:, ${c}:]\n}`,
});

/** A model of `--chain` calls of `block` (parameters under `<prefix><i>`) on a C x size x size input. */
const chainedModel = (
  block: string,
  prefix: string,
  c: number,
  size: number,
): string => `model m(x: f32[B, ${c}, ${size}, ${size}]) {
  y0 = x
${Array.from({ length: chain }, (_, i) => `  y${i + 1} = ${block}(self.${prefix}${i}, y${i})`).join('\n')}
  return y${chain}
}`;

/**
 * `--chain` CPolyNeXt cells (C channels, PolyConv of P channels, PolyMLP of M hidden channels),
 * their LayerNorms and residuals as in the model, at size x size.
 */
const cells = (c: number, p: number, mlp: number, size: number): Case => ({
  name: `cells ${c}x${size}x${size} (pc ${p}, mlp ${mlp})`,
  source: `block cell(self: path, x: tensor) {
  a = pwconv(self.a, x, out=${p})
  m = dwconv(self.m, dwconv(self.a1, a, k=5, dilation=2) * flip(dwconv(self.a2, a, k=3)), k=3)
  b = layernorm2d(self.n, pwconv(self.o, m, out=${c})) + x
  t = pwconv(self.up, layernorm2d(self.l, b), out=${2 * mlp})
  return pwconv(self.down, t[:, :${mlp}] * t[:, ${mlp}:], out=${c}) + b
}
${chainedModel('cell', 'c', c, size)}`,
});

/** `--chain` PolyMLPs of C channels and M hidden ones at size x size, with their LayerNorms and residuals. */
const polyMlp = (c: number, mlp: number, size: number): Case => ({
  name: `poly_mlp ${c}x${size}x${size} (mlp ${mlp})`,
  source: `block mlp(self: path, x: tensor) {
  t = pwconv(self.up, layernorm2d(self.l, x), out=${2 * mlp})
  return pwconv(self.down, t[:, :${mlp}] * t[:, ${mlp}:], out=${c}) + x
}
${chainedModel('mlp', 'm', c, size)}`,
});

/** A PolyConv's end: the conv of its product (P channels), LayerNorm, the residual. */
const polyConvEnd = (c: number, p: number, size: number): Case => ({
  name: `poly_conv end ${p}->${c}@${size}`,
  source: `model m(x: f32[B, ${c + p}, ${size}, ${size}]) {
  return layernorm2d(self.n, pwconv(self.o, x[:, :${p}], out=${c})) + x[:, ${p}:]
}`,
});

/** The module with every layout removed: all values NCHW. */
const nchwOnly = (m: Module): Module => ({
  ...m,
  ops: m.ops.map((o) => ({ ...o, type: withLayout(o.type, undefined) }) as Op),
});

const root = resolve(import.meta.dirname, '..');
const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
/** Temporary folders to remove at exit. */
const temporary: string[] = [];

/**
 * The base revision's `codegen/wgsl/` in a temporary folder, its imports of anything outside that
 * folder pointed at today's files, so only the kernel code differs.
 */
async function baseBuildPlan(base: string): Promise<typeof buildPlan> {
  const dir = mkdtempSync(join(tmpdir(), 'polyc-wgsl-base-'));
  temporary.push(dir);
  const folder = 'compiler/src/codegen/wgsl';
  for (const path of git('ls-tree', '--name-only', base, `${folder}/`).split('\n')) {
    const text = git('show', `${base}:${path}`).replace(/from '(\.[^']*)'/g, (all, spec: string) => {
      const target = resolve(root, dirname(path), spec);
      return relative(resolve(root, folder), target).startsWith('..')
        ? `from '${pathToFileURL(target).href.replace(/\.js$/, '.ts')}'`
        : all;
    });
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const mod = (await import(pathToFileURL(join(dir, folder, 'plan.ts')).href)) as {
    buildPlan: typeof buildPlan;
  };
  return mod.buildPlan;
}

const SECTIONS: Section[] = [
  {
    name: 'gemm',
    cases: [
      pointwise(96, 192, 56),
      pointwise(192, 384, 28),
      pointwise(384, 768, 14),
      pointwise(768, 1536, 7),
      // CPolyNeXt-T's PolyMLP down-projection: LayerNorm folded into the GEMM, plus the residual.
      {
        name: `ln-gemm48->48@56 (rule ${chooseChannels(48, 1)}x4)`,
        source: `model m(x: f32[B, 48, 56, 56]) {\n  return pwconv(self.p, layernorm2d(self.n, x), out=48) + x\n}`,
      },
    ],
    variants: async () => [
      withOptions('old', { gemm: false }),
      withOptions('gemm (rule)', {}),
      withOptions('gemm 4x4', { gemmChannels: 4 }),
      withOptions('gemm 16x4', { gemmChannels: 16 }),
    ],
  },
  {
    name: 'depthwise',
    cases: [
      ...POLYCONV_SHAPES.map(([c, h, k1]) => polyconv(c, h, k1)),
      // The downsampling depthwise convs (stride 2), and APolyNeXt-T's attention q/k/v convs.
      depthwise(48, 56, 3, 2),
      depthwise(96, 28, 3, 2),
      depthwise(192, 14, 3, 2),
      depthwise(96, 14, 5, 1),
      depthwise(160, 7, 5, 1),
    ],
    variants: async () => {
      const base = values.base ?? git('merge-base', 'HEAD', 'main');
      const build = await baseBuildPlan(base);
      return [
        { name: `base ${base.slice(0, 10)}`, build: (m) => build(m, 1, new AnalysisContext()) },
        withOptions('working tree', {}),
      ];
    },
  },
  {
    name: 'polyconv',
    cases: POLYCONV_SHAPES.map(([c, h, k1]) => polyconv(c, h, k1)),
    variants: async () => [
      withOptions('staged', { polyconv: 'staged' }),
      withOptions('registers (rule)', {}),
      ...(values.tiles ? values.tiles.split(',') : []).map((t) => {
        const [tw, th] = t.split('x').map(Number) as [number, number];
        return withOptions(`registers ${t}`, { polyconvTile: { tw, th } });
      }),
    ],
  },
  {
    name: 'conv',
    cases: [
      conv(3, 48, 224, 7, 4), // CPolyNeXt-T's stem
      conv(72, 144, 56, 3, 2), // CPolyNeXt-S's first downsampling conv
      conv(144, 288, 28, 3, 2),
      conv(72, 72, 32, 3, 1), // CPolyNeXt-LR's 3x3 conv
    ],
    variants: async () => [withOptions('generic', { conv: false }), withOptions('implicit GEMM', {})],
    oneKernel: true,
  },
  {
    name: 'attention',
    // APolyNeXt-T's two attention stages, a head dim that is not a multiple of 4, and a larger image.
    cases: [attention(3, 32, 14), attention(5, 32, 7), attention(4, 30, 14), attention(2, 32, 28)],
    variants: async () => {
      const base = values.base ?? git('merge-base', 'HEAD', 'main');
      const build = await baseBuildPlan(base);
      return [
        { name: `base ${base.slice(0, 10)}`, build: (m) => build(m, 1, new AnalysisContext()) },
        ...ATTENTION_QUERIES.map((q) =>
          withOptions(`${q}q, rows in registers`, { attentionQueries: q, attentionQRows: 'registers' }),
        ),
        ...[2, 4].map((q) =>
          withOptions(`${q}q, rows reloaded`, { attentionQueries: q, attentionQRows: 'reload' }),
        ),
      ];
    },
    oneKernel: true,
  },
  {
    name: 'norm',
    cases: [
      [48, 56],
      [96, 28],
      [192, 14],
      [288, 7],
    ].flatMap(([c, s]) => [cellInput(c!, s!), residual(c!, s!)]),
    variants: async () => [withOptions('old', { norm: false }), withOptions('norm', {})],
    oneKernel: true,
  },
  {
    name: 'tile',
    cases: [polyMlp(48, 48, 56), polyMlp(96, 96, 28), polyMlp(192, 168, 14), polyConvEnd(192, 144, 14)],
    variants: async () => [withOptions('tile wg64', { workgroupSize: 64 }), withOptions('tile (rule)', {})],
  },
  {
    name: 'layout',
    cases: [
      cells(192, 144, 168, 14),
      cells(288, 216, 252, 7),
      ...['cpolynext_t', 'apolynext_t'].map((name) => ({ name: `${name} 224`, source: name, example: true })),
    ],
    variants: async () => [
      { name: 'NCHW', build: (m) => buildPlan(nchwOnly(m), 1, new AnalysisContext()) },
      { name: 'assign-layouts', build: (m) => buildPlan(m, 1, new AnalysisContext()) },
    ],
  },
];

/** Median times of each variant on one case, and the largest difference from the first's output. */
async function measure(c: Case, section: Section, variants: readonly Variant[]): Promise<string> {
  const built = c.example
    ? buildExampleModel(c.source, { image_size: '224' })
    : buildModel('bench.poly', { readFile: () => c.source }).model;
  if (!built) throw new Error(`${c.name}: does not build`);
  const m = built.module;
  const opt = runPasses(m, parsePipeline('default')).module;
  const weights = syntheticWeights(m);
  const shape = m.ops.find((o) => o.op === 'input')!.type.shape.map((d) => (typeof d === 'number' ? d : 1));
  const input = randomInput(shape, 1);
  const models: WebGpuModel[] = [];
  try {
    for (const v of variants) {
      const compiled = v.build(opt);
      if (section.oneKernel && compiled.plan.steps.length !== 1) {
        throw new Error(`${c.name}: expected one kernel, ${v.name} has ${compiled.plan.steps.length}`);
      }
      models.push(await WebGpuModel.create(compiled.plan, packWeights(opt, compiled, weights)));
    }
    const times: number[][] = models.map(() => []);
    const outs: Float32Array[] = [];
    for (let i = 0; i < warmup + runs; i++) {
      for (const [k, model] of models.entries()) {
        const t0 = performance.now();
        [outs[k]] = (await model.run([input.data], 1)) as [Float32Array];
        if (i >= warmup) times[k]!.push(performance.now() - t0);
      }
    }
    const [old, ...rest] = times.map(median) as [number, ...number[]];
    const worst = Math.max(...outs.slice(1).map((o) => relDiff(o, outs[0]!)));
    return `| ${c.name} | ${old.toFixed(1)} | ${rest
      .map((t) => `${t.toFixed(1)} (${(old / t).toFixed(2)}x)`)
      .join(' | ')} | ${worst.toExponential(1)} |`;
  } finally {
    for (const model of models) model.destroy();
  }
}

const only = new Set(values.only.split(','));
const filters = values.cases ? values.cases.split(',') : [''];
try {
  for (const section of SECTIONS.filter((s) => only.has(s.name))) {
    const cases = section.cases.filter((c) => filters.some((f) => c.name.includes(f)));
    if (cases.length === 0) continue;
    const variants = await section.variants();
    console.log(
      [
        `\n### ${section.name}: median of ${runs} runs after ${warmup} warm-up (ms; speed-up over ${variants[0]!.name})\n`,
        `| case | ${variants.map((v) => v.name).join(' | ')} | max rel diff |`,
        `|---|${variants.map(() => '---').join('|')}|---|`,
      ].join('\n'),
    );
    for (const c of cases) console.log(await measure(c, section, variants));
  }
} finally {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
