import type { Span } from '../diagnostics/diagnostic.js';

/**
 * polyc's IR: plain data, SSA, one result per op, static shapes with one symbolic batch dimension.
 *
 * A `Module` is a flat, topologically ordered list of ops. Operands refer to earlier ops by `ValueId`.
 * Ops carry no analysis facts (degree, cost, liveness live in analyses); they carry their result
 * type, their source location and the scope (module path and DSL block) they were created in.
 */

/** A dimension: a constant, or the name of the module's symbolic batch dimension. */
export type Dim = number | string;

export interface TensorType {
  readonly dtype: 'f32';
  readonly shape: readonly Dim[];
  /**
   * How codegen stores the value in memory; absent means NCHW, the logical order. Only rank-4
   * data-path values carry one (the `assign-layouts` pass decides). Shapes, coordinates and every
   * op's semantics stay logical (NCHW): the interpreter, the folds, the CPU backend and ONNX export
   * ignore it.
   */
  readonly layout?: Layout;
}

/**
 * Memory layouts other than NCHW. `nc4hw4`: channels in blocks of 4, each pixel's block a vec4;
 * element (b, c, y, x) at `((b * ceil(C/4) + c/4) * H*W + y*W + x) * 4 + c%4`, the channels padded
 * to a multiple of 4 (see ir/layout.ts).
 */
export type Layout = 'nc4hw4';
export const LAYOUTS: readonly Layout[] = ['nc4hw4'];

export type ValueId = number;

export interface Conv2dAttrs {
  readonly stride: readonly [number, number];
  readonly pad: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
}

/** Attributes of every op kind; the key set of this map is the op vocabulary. */
export interface OpAttrs {
  /** The model input. */
  input: { readonly name: string };
  /** A checkpoint tensor. `role: 'buffer'` tensors are loaded but not counted as parameters. */
  param: { readonly key: string; readonly role: 'param' | 'buffer' };
  /** A scalar constant (shape []). */
  const: { readonly value: number };
  add: Record<string, never>;
  sub: Record<string, never>;
  /** Elementwise (Hadamard) product with NumPy broadcasting. */
  mul: Record<string, never>;
  div: Record<string, never>;
  neg: Record<string, never>;
  /** Integer power `x^exponent`, exponent >= 1. */
  pow: { readonly exponent: number };
  /** Logistic sigmoid. Only ever applied to parameter-derived values (the verifier checks). */
  sigmoid: Record<string, never>;
  /** NCHW convolution, weight [out, in/groups, kh, kw], no bias. */
  conv2d: Conv2dAttrs;
  /**
   * LayerNorm over channels per (n,h,w) with var = max(E[x^2]-E[x]^2, 0); operands x and, unless a
   * pass folded it into a consumer, weight [C].
   */
  layernorm2d: { readonly eps: number };
  /**
   * Inference ChannelBatchNorm: (x - mean[h,w]) * rsqrt(var[h,w] + eps) * gamma_hw[h,w] * gamma_c[c];
   * operands x, gamma_c [C], gamma_hw, running_mean, running_var [1,1,H,W].
   */
  channel_bn: { readonly eps: number };
  /** x[..., start:end, ...] along `axis`. */
  slice: { readonly axis: number; readonly start: number; readonly end: number };
  /** Reverses the order of elements along `axis`. */
  flip: { readonly axis: number };
  reshape: { readonly shape: readonly Dim[] };
  transpose: { readonly perm: readonly number[] };
  /** Batched matrix product over the last two axes; leading axes must be equal. */
  matmul: Record<string, never>;
  /** x / max(sum(|x|, axis), eps) (torch.nn.functional.normalize with p=1). */
  l1norm: { readonly axis: number; readonly eps: number };
  mean: { readonly axes: readonly number[]; readonly keepdims: boolean };
  sum: { readonly axes: readonly number[]; readonly keepdims: boolean };
  /** y = x W^T (+ b); operands x [N, in], weight [out, in], and optionally bias [out]. */
  linear: Record<string, never>;
  /** Elementwise maximum with broadcasting. Not polynomial: only passes create it (LayerNorm's clamp). */
  max: Record<string, never>;
  /** 1 / sqrt(x). Not polynomial: only passes create it (LayerNorm decompositions). */
  rsqrt: Record<string, never>;
  /** Operand `index` of the enclosing fused op; only inside a region. */
  arg: { readonly index: number };
  /**
   * A group of ops that codegen turns into one kernel. `body` computes the result from the
   * operands (bound by `arg` ops); `kind` names the kernel template that implements it.
   */
  fused: { readonly kind: FusedKind; readonly body: Region };
}

/**
 * Kernel templates for fused regions (see passes/fuse-*.ts and codegen/wgsl). `tile`: a pointwise
 * conv whose value a channel LayerNorm or a second pointwise conv of the region reads across
 * channels; the kernel stages it for a tile of pixels in workgroup memory.
 */
export type FusedKind = 'gemm' | 'polyconv' | 'attention' | 'conv' | 'norm' | 'tile' | 'elementwise';
export const FUSED_KINDS: readonly FusedKind[] = [
  'gemm',
  'polyconv',
  'attention',
  'conv',
  'norm',
  'tile',
  'elementwise',
];

/**
 * WebGPU's default `maxComputeWorkgroupStorageSize` in bytes: all a kernel may assume of a device.
 */
export const WORKGROUP_STORAGE_BYTES = 16384;

/**
 * The most channels C the staged value of a `tile` region may have: 4 pixels of it fit in
 * WORKGROUP_STORAGE_BYTES with, per pixel, two statistics partials for each block of (at least)
 * 4 channels and the two merged statistics: 4 * (C + 2 * ceil(C / 4) + 2) * 4 <= 16384, C <= 680.
 * fuse-kernels forms no tile region above it; codegen chooses the tile's pixels within it.
 */
export const TILE_MAX_CHANNELS = 680;

/**
 * The body of a fused op: a straight-line op list with its own value ids, starting with one `arg`
 * op per operand, and never containing `input`, `param` or nested `fused` ops.
 */
export interface Region {
  readonly ops: readonly Op[];
  readonly result: ValueId;
}

export type OpKind = keyof OpAttrs;

interface OpOf<K extends OpKind> {
  readonly id: ValueId;
  readonly op: K;
  readonly operands: readonly ValueId[];
  readonly attrs: OpAttrs[K];
  readonly type: TensorType;
  /** Where in the .poly source this op came from (null for ops created by passes without one). */
  readonly loc: Span | null;
  /** Provenance: `<module path>:<block>` of the DSL block instance that created the op. */
  readonly scope: string;
}

export type Op = { [K in OpKind]: OpOf<K> }[OpKind];
export type OpOfKind<K extends OpKind> = OpOf<K>;

export interface Module {
  readonly name: string;
  /** The name of the symbolic batch dimension used in types (e.g. "B"). */
  readonly batch: string;
  readonly ops: readonly Op[];
  readonly outputs: readonly ValueId[];
  /** Checkpoint keys that may be present and are ignored (dropout rates, BN counters). */
  readonly ignoredKeys: readonly string[];
}

export const OP_KINDS: readonly OpKind[] = [
  'input',
  'param',
  'const',
  'add',
  'sub',
  'mul',
  'div',
  'neg',
  'pow',
  'sigmoid',
  'conv2d',
  'layernorm2d',
  'channel_bn',
  'slice',
  'flip',
  'reshape',
  'transpose',
  'matmul',
  'l1norm',
  'mean',
  'sum',
  'linear',
  'max',
  'rsqrt',
  'arg',
  'fused',
];
