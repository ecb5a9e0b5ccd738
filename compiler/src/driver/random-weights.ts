import { numel } from '../ir/shapes.js';
import type { Module, Op } from '../ir/types.js';

/**
 * Deterministic random weights for a module, for users without a checkpoint (export, benchmarks)
 * and for tests. Each tensor's values depend only on its key and the seed. Scales follow the role
 * of the tensor, read from the op that consumes it, so activations stay of order one: fan-in
 * scaling for conv/linear weights, values near 1 for norm gains and scales, positive variances.
 */
export function randomWeights(m: Module, seed = 0): Map<string, Float32Array> {
  const consumers = new Map<number, { op: Op; index: number }[]>();
  for (const op of m.ops) {
    op.operands.forEach((id, index) => {
      const list = consumers.get(id) ?? [];
      list.push({ op, index });
      consumers.set(id, list);
    });
  }
  const out = new Map<string, Float32Array>();
  for (const op of m.ops) {
    if (op.op !== 'param') continue;
    const use = consumers.get(op.id)?.[0];
    const { shift, scale } = role(use ? `${use.op.op}:${use.index}` : 'unused', op.type.shape as number[]);
    const data = new Float32Array(numel(op.type.shape));
    fillUniform(data, hash(op.attrs.key) ^ seed, shift, scale);
    out.set(op.attrs.key, data);
  }
  return out;
}

/** The distribution of a tensor, from the op consuming it: values are `shift + scale * u`. */
function role(kind: string, shape: readonly number[]): { shift: number; scale: number } {
  switch (kind) {
    case 'conv2d:1':
    case 'linear:1': {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      return { shift: 0, scale: Math.sqrt(3 / fanIn) };
    }
    case 'linear:2':
    case 'channel_bn:3':
      return { shift: 0, scale: 0.1 };
    case 'channel_bn:4':
      return { shift: 1, scale: 0.5 };
    case 'sigmoid:0':
      // Sigmoid-scaled residual branches start small (sigmoid(-3) ~ 0.05), so a deep polynomial
      // network with random weights stays bounded, as the reference's small sigmoid_scale init does.
      return { shift: -3, scale: 0.5 };
    default:
      // Gains and scales (LayerNorm weight, BN gammas, per-channel scales, attention constants).
      return { shift: 1, scale: 0.1 };
  }
}

/** A deterministic input batch with values uniform in [-1, 1). */
export function randomInput(shape: readonly number[], seed = 1): { shape: number[]; data: Float32Array } {
  const rand = mulberry32(hash('input') ^ seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rand() * 2 - 1;
  return { shape: [...shape], data };
}

/** FNV-1a, 32-bit. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * `data[i] = shift + scale * u` with u uniform in [-1, 1) from mulberry32 seeded with `seed`: the
 * same stream as `mulberry32(seed)`, with the generator's state in a local (a closure's state is a
 * boxed number, one heap allocation per value, which made this loop a large part of a compile). A
 * zero shift is left out so the values are exactly `scale * u` (no -0 turned into +0).
 */
function fillUniform(data: Float32Array, seed: number, shift: number, scale: number): void {
  // The state as an int32 (the same bits as mulberry32's uint32): it stays a machine integer.
  let a = seed | 0;
  const n = data.length;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
    data[i] = shift === 0 ? scale * u : shift + scale * u;
  }
}

/** A small, fast PRNG with good statistical quality for initialisation; returns [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
