import { InternalError } from '../../diagnostics/diagnostic.js';
import { numel } from '../../ir/shapes.js';
import type { Layout, Op, ValueId } from '../../ir/types.js';
import { renderAttention } from './attention.js';
import { renderConv } from './conv.js';
import { renderDepthwise, renderPolyconv } from './depthwise.js';
import { ExprWriter, elementIndex, offsetExpr, type Source, strides, withLayout } from './expr.js';
import { renderGemm } from './gemm.js';
import { renderNorm } from './norm.js';
import { renderTile, TILE_WORKGROUP_SIZE } from './tile.js';

/**
 * Kernel selection and WGSL rendering. A unit of work (a fused region, or one op) becomes one
 * kernel. Polynomial attention has its own template (attention.ts: a few queries per invocation
 * with their rows in registers, one sweep over the keys in groups of 4 through affine views of
 * Q, K and V; a generic fallback), PolyConv and depthwise convs theirs (depthwise.ts: several
 * outputs per invocation), pointwise convs a GEMM template (gemm.ts), LayerNorm units a
 * per-pixel template (norm.ts); everything else is rendered by the expression writer, one invocation per output element.
 */

/** One kernel's worth of IR: ops whose `arg` ops read `sources`, computing `result`. */
export interface Unit {
  readonly ops: readonly Op[];
  readonly result: ValueId;
  readonly sources: readonly Source[];
  /** The kernel template family, for names ('gemm', 'attention', 'conv2d', …). */
  readonly family: string;
  /** The result's memory layout (absent: NCHW), as the IR records it. */
  readonly layout?: Layout;
}

export interface RenderedKernel {
  readonly name: string;
  readonly wgsl: string;
  readonly workgroupSize: number;
  readonly invocationsPerBatch: number;
}

export const WORKGROUP_SIZE = 64;

/** Bindings and parameters; `element` types the storage arrays (`vec4<f32>` for vector loads). */
export const prelude = (element: string) => `struct Params {
  batch: u32,
  total: u32,
  _a: u32,
  _b: u32,
  off: array<vec4<u32>, 15>,
}

@group(0) @binding(0) var<storage, read_write> arena: array<${element}>;
@group(0) @binding(1) var<storage, read> weights: array<${element}>;
@group(0) @binding(2) var<uniform> params: Params;`;

export const PRELUDE = prelude('f32');

export const ENTRY = `@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WORKGROUP_SIZE}u;
  if (i >= params.total) {
    return;
  }`;

export interface KernelOptions {
  /** Register-blocked GEMM kernels for pointwise convs (default true; false: the old path, for benchmarks). */
  readonly gemm?: boolean;
  /** Output channels per GEMM invocation, overriding the rule (benchmarks, tuned variants). */
  readonly gemmChannels?: number;
  /** The per-pixel LayerNorm template (default true; false: the generic path, for benchmarks). */
  readonly norm?: boolean;
  /** PolyConv template: 'registers' (default, barrier-free sliding windows) or 'staged' (workgroup memory). */
  readonly polyconv?: 'staged' | 'registers';
  /** PolyConv tile (outputs along W, rows per strip) for the registers template, overriding the rule (benchmarks). */
  readonly polyconvTile?: { readonly tw?: number; readonly th?: number };
  /** The implicit-GEMM template for general convs (conv.ts; default true; false: the generic path, for benchmarks). */
  readonly conv?: boolean;
  /** Output channels per implicit-GEMM invocation, overriding the rule (tuned variants). */
  readonly convChannels?: number;
  /**
   * Invocations per workgroup of the GEMM, conv and norm templates (default WORKGROUP_SIZE) and of
   * the tile template (default TILE_WORKGROUP_SIZE); tuned variants.
   */
  readonly workgroupSize?: number;
  /** Queries per invocation of the register attention template, overriding the rule (tuned variants). */
  readonly attentionQueries?: number;
  /** Q' rows of the register attention template in registers or reloaded per key group (tuned variants). */
  readonly attentionQRows?: 'registers' | 'reload';
}

/** The kernel templates, in the order `renderKernel` tries them. */
export type Template =
  | 'attention'
  | 'polyconv'
  | 'depthwise'
  | 'conv'
  | 'tile'
  | 'gemm'
  | 'norm'
  | 'elementwise';

/**
 * Each template's renderer: null when the unit does not have its shape (or `options` turn it off).
 * The first that renders a unit is its template; 'elementwise' renders any unit.
 */
const TEMPLATES: readonly (readonly [Template, (unit: Unit, o: KernelOptions) => RenderedKernel | null])[] = [
  [
    'attention',
    (unit, o) =>
      renderAttention(unit, {
        ...(o.attentionQueries ? { queries: o.attentionQueries } : {}),
        ...(o.attentionQRows ? { qRows: o.attentionQRows } : {}),
      }),
  ],
  ['polyconv', (unit, o) => renderPolyconv(unit, { ...o.polyconvTile, variant: o.polyconv ?? 'registers' })],
  ['depthwise', (unit) => renderDepthwise(unit)],
  [
    'conv',
    (unit, o) =>
      o.conv === false
        ? null
        : renderConv(
            unit,
            prelude('vec4<f32>'),
            o.workgroupSize ?? WORKGROUP_SIZE,
            o.convChannels ? { channels: o.convChannels } : {},
          ),
  ],
  ['tile', (unit, o) => renderTile(unit, prelude('vec4<f32>'), o.workgroupSize ?? TILE_WORKGROUP_SIZE)],
  [
    'gemm',
    (unit, o) =>
      o.gemm === false
        ? null
        : renderGemm(
            unit,
            prelude('vec4<f32>'),
            o.workgroupSize ?? WORKGROUP_SIZE,
            o.gemmChannels ? { channels: o.gemmChannels } : {},
          ),
  ],
  [
    'norm',
    (unit, o) => (o.norm === false ? null : renderNorm(unit, PRELUDE, o.workgroupSize ?? WORKGROUP_SIZE)),
  ],
  ['elementwise', (unit) => renderElementwise(unit)],
];

export function renderKernel(unit: Unit, options: KernelOptions = {}): RenderedKernel {
  return selectKernel(unit, options).kernel;
}

/** The kernel for `unit` and the template that rendered it. */
export function selectKernel(
  unit: Unit,
  options: KernelOptions = {},
): { readonly template: Template; readonly kernel: RenderedKernel } {
  for (const [template, render] of TEMPLATES) {
    const kernel = render(unit, options);
    if (kernel) return { template, kernel };
  }
  throw new InternalError(`no kernel template renders ${unit.family}`);
}

function shapeName(op: Op): string {
  return op.type.shape.filter((d) => typeof d === 'number').join('x');
}

/** Output channels one GEMM invocation computes: they share the pixel's statistics and input reads. */
const GEMM_CHANNELS = 4;

/**
 * One invocation per element of the result; for GEMMs the register-blocked template cannot take
 * (or with it turned off), per pixel and GEMM_CHANNELS consecutive output channels, so that
 * per-pixel values (the LayerNorm statistics) are computed once for all of them.
 */
function renderElementwise(unit: Unit): RenderedKernel {
  const w = new ExprWriter(unit.ops, unit.sources);
  const root = w.op(unit.result);
  const shape = root.type.shape;
  const blocked = unit.family === 'gemm' && shape.length === 4 && (shape[1] as number) > 1;
  const per = blocked ? GEMM_CHANNELS : 1;
  const channels = blocked ? (shape[1] as number) : 1;
  // The invocation grid: the result's shape with the channel axis divided into blocks of `per`.
  const grid = blocked ? [shape[0]!, Math.ceil(channels / per), shape[2]!, shape[3]!] : [...shape];
  const gs = strides(grid);
  const names = ['b', 'q', 'y', 'x'];
  const stmts = grid.map(
    (d, k) => `  let ${names[k]} = ${k === 0 ? `i / ${gs[0]}` : `(i / ${gs[k]}) % ${d}u`};`,
  );
  const stores: string[] = [];
  const memo = new Map<string, string>();
  for (let j = 0; j < per; j++) {
    let coords: string[];
    let index: string;
    let guard = '';
    if (blocked) {
      // Clamped so every statement stays at function scope (shared across channels); stored if in range.
      const ch = `c${j}`;
      stmts.push(`  let ${ch} = min(q * ${per}u + ${j}u, ${channels - 1}u);`);
      coords = ['b', ch, 'y', 'x'];
      index = elementIndex(withLayout(root.type, unit.layout), coords);
      guard = `q * ${per}u + ${j}u < ${channels}u`;
    } else {
      coords = names.slice(0, shape.length);
      index = unit.layout === undefined ? 'i' : elementIndex(withLayout(root.type, unit.layout), coords);
    }
    const value = w.inline(unit.result, coords.length > 0 ? coords : ['0u'], stmts, memo);
    const store = `arena[${offsetExpr(0)} + ${index}] = ${value};`;
    stores.push(guard ? `  if (${guard}) {\n    ${store}\n  }` : `  ${store}`);
  }
  const wgsl = [PRELUDE, w.functions(), `${ENTRY}\n${stmts.join('\n')}\n${stores.join('\n')}\n}`].join(
    '\n\n',
  );
  return {
    name: `${unit.family}_${shapeName(root)}`,
    wgsl: `${wgsl}\n`,
    workgroupSize: WORKGROUP_SIZE,
    invocationsPerBatch: numel(grid.slice(1)),
  };
}
