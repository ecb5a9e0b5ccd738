/**
 * Small models, one per kernel kind, with awkward sizes (channel counts that are not multiples of the
 * workgroup size, 1x1 and 7x7 images, widths that are not multiples of the outputs per invocation).
 * Each compiles with fusion on and off, so every fused kernel template and every standalone op
 * kernel runs. The input shape is the model's.
 */
const block = `
block mlp(self: path, p: tensor, C: int, kind: str) {
  t = pwconv(self.up, p, out=2 * C + 1)
  m = t[:, :C] * t[:, C:2 * C]
  n = if kind == "ln" then layernorm2d(self.ln, m) else batchnorm2d(self.bn, m)
  return pwconv(self.down, n, out=C) * sigmoid(param(self.skip, [2]))[1] + p
}

block polyconv(self: path, p: tensor, C: int, k: int, d: int) {
  b = pwconv(self.b, p, out=C)
  m = dwconv(self.m, dwconv(self.a1, b, k=k, dilation=d) * flip(dwconv(self.a2, b, k=3)), k=3)
  return layernorm2d(self.n, pwconv(self.o, m, out=C)) * sigmoid(param(self.r, [1])) + p
}

block attention(self: path, x: tensor, C: int, kind: str, heads: int, dim: int, qview: str) {
  A = heads * dim
  batch, _, H, W = x.shape
  N = H * W
  qkv = pwconv(self.qkv, layernorm2d(self.pre, x), out=2 * A)
  qc = dwconv(self.q, qkv[:, :A], k=5)
  if qview == "wh" {
    qc = transpose(qc, [0, 1, 3, 2])
  }
  q = reshape(qc, [batch, heads, dim, N])
  k = reshape(dwconv(self.k, qkv[:, :A], k=5), [batch, heads, dim, N])
  v = reshape(dwconv(self.v, qkv[:, A:], k=3), [batch, heads, dim, N])
  P = (transpose(q, [0, 1, 3, 2]) @ k * sigmoid(param(self.scale, [1, heads, 1, 1])) + 1) ^ 4
  if kind == "ln" {
    P = l1norm(P, axis=3)
  } else {
    P = P / (buffer(self.denom, [1, heads, N, 1]) + 1e-6) * param(self.gamma, [1, heads, N, 1])
  }
  O = reshape(v @ transpose(P, [0, 1, 3, 2]), [batch, A, H, W])
  return pwconv(self.proj, dwconv(self.f, O, k=3), out=C) + x
}
`;

/** The attention block alone on a C x H x W input (its parameters after `x`). */
const attentionModel = (
  c: number,
  h: number,
  w: number,
  kind: string,
  heads: number,
  dim: number,
  qview: string,
) => ({
  source: `${block}\nmodel m(x: f32[B, ${c}, ${h}, ${w}]) {\n  return attention(self, x, ${c}, "${kind}", ${heads}, ${dim}, "${qview}")\n}`,
});

export const KERNEL_MODELS: Record<string, { source: string }> = {
  'stem-and-downsample': {
    source: `model m(x: f32[B, 3, 29, 29]) {
  s = conv2d(self.stem, x, out=13, k=7, stride=4)
  d = pwconv(self.pw, dwconv(self.dw, s, k=3, stride=2), out=67)
  return conv2d(self.full, d, out=5, k=3, stride=2)
}`,
  },
  // The implicit-GEMM conv template (conv.ts): 13 and 5 output channels (not multiples of the
  // channel tile), output widths 15, 11, 6 and 8 (not multiples of 4, and one that is), dilation 2
  // with no padding, stride 2 with a 1x1 kernel, a prologue, an epilogue, a grouped conv, kernel
  // rows unrolled (k=3) and looped (k=5).
  'conv-general': {
    source: `model m(x: f32[B, 6, 17, 15]) {
  a = conv2d(self.a, x * x + 1, out=13, k=3)
  b = conv2d(self.b, a * a + 1, out=16, k=3, dilation=2, pad=0)
  c = conv2d(self.c, b, out=16, k=5, stride=2, groups=2) * 2 + 1
  d = conv2d(self.d, x, out=5, k=1, stride=2)
  return conv2d(self.e, c, out=8, k=3) + conv2d(self.f, d, out=8, k=3, pad=0)
}`,
  },
  'poly-mlp-ln-7x7': {
    source: `${block}\nmodel m(x: f32[B, 13, 7, 7]) {\n  return mlp(self, x, 13, "ln")\n}`,
  },
  'poly-mlp-bn-1x1': {
    source: `${block}\nmodel m(x: f32[B, 67, 1, 1]) {\n  return mlp(self, x, 67, "bn")\n}`,
  },
  // Register-blocked GEMM tiles: vector loads (H*W and K multiples of 4) and the scalar fallbacks,
  // output channels that the tile does not divide (20, 7, 33, 13).
  'gemm-vector-8x8': {
    source: `${block}\nmodel m(x: f32[B, 12, 8, 8]) {
  z = pwconv(self.b, pwconv(self.a, x, out=20), out=7)
  return mlp(self, pwconv(self.c, z, out=16), 16, "ln")
}`,
  },
  'gemm-odd-k-6x6': {
    source: `${block}\nmodel m(x: f32[B, 13, 6, 6]) {\n  return mlp(self, x, 13, "ln")\n}`,
  },
  'gemm-odd-pixels-5x5': {
    source: `${block}\nmodel m(x: f32[B, 16, 5, 5]) {\n  return mlp(self, x, 16, "ln")\n}`,
  },
  'polyconv-7x7': {
    source: `${block}\nmodel m(x: f32[B, 5, 7, 7]) {\n  return polyconv(self, x, 5, 3, 2)\n}`,
  },
  // 11 columns: three segments of 4 outputs with one idle; 3 channels per workgroup, 13 channels.
  'polyconv-k5-13x11x11': {
    source: `${block}\nmodel m(x: f32[B, 13, 11, 11]) {\n  return polyconv(self, x, 13, 5, 2)\n}`,
  },
  // C % 4 == 0 and H*W = 63: PolyConv reading and writing NC4HW4 with whole channel blocks (the
  // flipped channel C-1-c in the mirrored block); 9 columns: segments of 5 and 4.
  'polyconv-12x7x9': {
    source: `${block}\nmodel m(x: f32[B, 12, 7, 9]) {\n  return polyconv(self, x, 12, 5, 2)\n}`,
  },
  // Two tiles along W (64 + 3 columns), three along H (7 + 7 + 5 rows).
  'polyconv-3x19x67': {
    source: `${block}\nmodel m(x: f32[B, 3, 19, 67]) {\n  return polyconv(self, x, 3, 5, 2)\n}`,
  },
  // Kernel sizes 3/5/7, stride 2, dilation 2, explicit pads, a prologue and an epilogue; widths
  // 19 and 10 are not multiples of the outputs per invocation.
  depthwise: {
    source: `model m(x: f32[B, 7, 23, 19]) {
  a = dwconv(self.a, x, k=7) * x
  b = dwconv(self.b, a, k=5, dilation=2, stride=2)
  c = dwconv(self.c, b * b + 1, k=3, stride=2, dilation=2)
  return dwconv(self.d, c, k=3, pad=0) + scale(self.s, c[:, :, 1:5, 1:4])
}`,
  },
  // Past MAX_REGISTER_TAPS (33x33 = 1089 taps): the generic path, weights read in its loop.
  'depthwise-33x33': {
    source: `model m(x: f32[B, 3, 9, 9]) {\n  return dwconv(self.a, x, k=33) * x\n}`,
  },
  // Polynomial attention (attention.ts): keys not a multiple of 4 (49, 1), head dims that are
  // not (30, 6), several heads, vector loads and stores (64 and 36 keys); the generic template
  // for a head dim above the register template's limit (72) and for a query view that is not
  // affine (H and W transposed, then merged).
  'attention-l1-7x7': attentionModel(13, 7, 7, 'ln', 2, 32, 'hw'),
  'attention-bn-1x1': attentionModel(13, 1, 1, 'bn', 2, 32, 'hw'),
  'attention-l1-3x30-8x8': attentionModel(11, 8, 8, 'ln', 3, 30, 'hw'),
  'attention-bn-4x6-6x6': attentionModel(9, 6, 6, 'bn', 4, 6, 'hw'),
  'attention-generic-1x72-5x5': attentionModel(7, 5, 5, 'ln', 1, 72, 'hw'),
  'attention-generic-view-7x5': attentionModel(13, 7, 5, 'ln', 2, 16, 'wh'),
  'cell-input-norm': {
    source: `model m(x: f32[B, 13, 7, 7]) {
  p = layernorm2d(self.post, scale(self.p0, x) + scale(self.p1, x * x))
  return dwconv(self.d, p, k=3) + p
}`,
  },
  // The per-pixel LayerNorm template (norm.ts), with CPolyNeXt's two unit shapes: the cell input's
  // scaled sum normalised (odd C, H*W not a multiple of 4), LayerNorm of a conv plus the residual.
  'norm-odd-7x7': {
    source: `model m(x: f32[B, 13, 7, 7]) {
  n = layernorm2d(self.a, scale(self.p0, x) + scale(self.p1, x * x))
  return layernorm2d(self.b, dwconv(self.d, n, k=3)) + n
}`,
  },
  // Without a gain (folded into the depthwise conv that reads it), C = 6, 5x5.
  'norm-no-gain-5x5': {
    source: `model m(x: f32[B, 6, 5, 5]) {
  return dwconv(self.d, layernorm2d(self.a, scale(self.p0, x) + x), k=3)
}`,
  },
  // H*W a multiple of 4; the LayerNorm's input also feeds the epilogue directly.
  'norm-8x8': {
    source: `model m(x: f32[B, 20, 8, 8]) {
  v = scale(self.p0, x) + x
  return dwconv(self.d, layernorm2d(self.a, v) * v + v, k=3)
}`,
  },
  // NC4HW4 activations (assign-layouts: H*W = 99, 30 and 12, not multiples of 4) through every
  // template that reads or writes them: GEMMs with K = 6, 12 and 7 (vector and masked channel
  // blocks), 2 and 7 output channels (tiles of 2 and 4), an NC4HW4 residual in a GEMM epilogue, a
  // general 3x3 conv, depthwise convs at stride 2 and dilation 2, a LayerNorm unit.
  'layout-nc4hw4': {
    source: `model m(x: f32[B, 6, 9, 11]) {
  a = pwconv(self.a, x, out=12)
  b = conv2d(self.b, a * a + 1, out=7, k=3)
  c = dwconv(self.c, b, k=3, stride=2) * 2
  d = dwconv(self.d, c, k=3, dilation=2) + c
  e = pwconv(self.e, d, out=2)
  f = pwconv(self.f, e * e, out=7) + d
  g = layernorm2d(self.g, f) * f
  return pwconv(self.h, dwconv(self.i, g, k=3, stride=2), out=5)
}`,
  },
  // Tile kernels (tile.ts): a pointwise conv staged in workgroup memory for a LayerNorm over its
  // channels (13 channels of 11 inputs, 7x7: one tile of 52 pixels with 3 idle) ...
  'tile-norm-13x7x7': {
    source: `model m(x: f32[B, 11, 7, 7]) {
  return layernorm2d(self.n, pwconv(self.o, x, out=13)) * sigmoid(param(self.r, [1])) + pwconv(self.p, x, out=13)
}`,
  },
  // ... 301 channels at 5x5: tiles of 4 pixels (6 of them and a 1-pixel tail), K = 6 and 301 not
  // multiples of 4.
  'tile-norm-301x5x5': {
    source: `model m(x: f32[B, 6, 5, 5]) {
  return layernorm2d(self.n, pwconv(self.o, x, out=301)) * 2 + 1
}`,
  },
  // ... a cell input: the preprocess conv's scaled sum normalised (a prologue of the LayerNorm), 1x1.
  'tile-cell-input-1x1': {
    source: `model m(x: f32[B, 13, 1, 1]) {
  p = layernorm2d(self.post, scale(self.p0, pwconv(self.pre, x, out=13)) + scale(self.p1, x))
  return dwconv(self.d, p, k=3) + p
}`,
  },
  // The PolyMLP in one kernel: m = 150 channels of a 301-channel conv at 7x7 (tiles of 8 pixels:
  // 6 x 8 + 1), the second conv's K loop over m in workgroup memory.
  'tile-mlp-150x7x7': {
    source: `${block}\nmodel m(x: f32[B, 150, 7, 7]) {\n  return mlp(self, x, 150, "ln")\n}`,
  },
  // Stage 1's statistics partials over channel blocks that the staged channel count does not fill:
  // m = 9 channels of the PolyMLP (blocks of 4, 4 and 1) at 6x6, ...
  'tile-mlp-9x6x6': {
    source: `${block}\nmodel m(x: f32[B, 9, 6, 6]) {\n  return mlp(self, x, 9, "ln")\n}`,
  },
  // ... 3 channels (one block, fewer channels than the tile) at 9x9 (H*W = 81: scalar reads, tiles
  // past the last pixel) and 21 channels of 7 inputs (blocks of 8, 8 and 5) with the mean of the
  // normalised value, a per-pixel channel statistic of the region's root.
  'tile-norm-3x9x9': {
    source: `model m(x: f32[B, 7, 9, 9]) {
  return layernorm2d(self.n, pwconv(self.o, x, out=3)) + 1
}`,
  },
  'tile-norm-21x4x4': {
    source: `model m(x: f32[B, 7, 4, 4]) {
  return layernorm2d(self.n, pwconv(self.o, x, out=21)) * 2 + mean(x * x, axes=[1], keepdims=true)
}`,
  },
  // A LayerNorm of the PolyMLP product that the second conv and a residual both read: the tile
  // stores the LayerNorm (with its gain), the second conv is a GEMM of its own. 5 channels, 3x3.
  'tile-mlp-shared-norm-3x3': {
    source: `model m(x: f32[B, 5, 3, 3]) {
  t = pwconv(self.up, x, out=10)
  n = layernorm2d(self.ln, t[:, :5] * t[:, 5:])
  return pwconv(self.down, n, out=7) + n[:, :1]
}`,
  },
  head: {
    source: `model m(x: f32[B, 13, 7, 7]) {
  z = pwconv(self.proj, layernorm2d(self.norm, x), out=4 * 13)
  l = z[:, :2 * 13]
  return linear(self.fc, mean_hw(l + l * z[:, 2 * 13:]), out=67)
}`,
  },
};
