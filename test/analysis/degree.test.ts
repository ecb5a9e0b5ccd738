import { describe, expect, it } from 'vitest';
import { AnalysisContext } from '../../compiler/src/analysis/context.js';
import {
  balancedDepth,
  type DegreeReport,
  degreeReport,
  formatDegreeReport,
  log2Big,
} from '../../compiler/src/analysis/degree.js';
import { buildModel } from '../../compiler/src/driver/frontend.js';
import { readModule } from '../../compiler/src/ir/read.js';
import type { Module } from '../../compiler/src/ir/types.js';
import { verifyModule } from '../../compiler/src/ir/verify.js';
import { buildExample } from '../helpers.js';

/** Small hand-checkable models: every expected number below is worked out in the comments. */
function build(body: string, input = 'f32[B, 4, 2, 2]'): Module {
  const src = `model t(x: ${input}) {\n${body}\n}\n`;
  const r = buildModel('t.poly', { readFile: (p) => (p === 't.poly' ? src : null) });
  if (!r.model) throw new Error(JSON.stringify(r.diagnostics));
  return r.model.module;
}

const report = (m: Module): DegreeReport => degreeReport(m, new AnalysisContext());
const out = (m: Module) => report(m).outputs[0]!;

// q, k, v: linear projections of the block input x (degree 1 each), 1 head of 32 channels.
const QKV = `
  batch, _, H, W = x.shape
  q = reshape(pwconv(self.q, x, out=32), [batch, 1, 32, H * W])
  k = reshape(pwconv(self.k, x, out=32), [batch, 1, 32, H * W])
  v = reshape(pwconv(self.v, x, out=32), [batch, 1, 32, H * W])
  S = transpose(q, [0, 1, 3, 2]) @ k
  P = (S * sigmoid(param(self.scale, [1, 1, 1, 1])) + 1) ^ 4`;

describe('degree analysis on small models', () => {
  it('PolyMLP: the product of the two halves of a projection has degree 2', () => {
    const m = build(`
  t = pwconv(self.a, x, out=8)
  h = chunk(t, 2)
  return pwconv(self.b, h[0] * h[1], out=4)`);
    expect(out(m)).toMatchObject({ degree: '2', log2: 1, depthAsWritten: 1, depthBalanced: 1, segment: 0 });
    expect(report(m).polynomial).toBe(true);
  });

  it('attention numerator (q.k.s + 1)^4 . v has degree 8 + 1 = 9', () => {
    const m = build(`${QKV}\n  return v @ transpose(P, [0, 1, 3, 2])`, 'f32[B, 8, 2, 2]');
    // Depth: q.k is 1; ^4 is 3 more as written, 2 by squaring; the product with v adds 1.
    expect(out(m)).toMatchObject({ degree: '9', depthAsWritten: 5, depthBalanced: 4 });
  });

  it('l1norm over keys is a barrier: P enters it with degree 8, the output restarts', () => {
    const m = build(`${QKV}\n  return v @ transpose(l1norm(P, axis=3), [0, 1, 3, 2])`, 'f32[B, 8, 2, 2]');
    const r = report(m);
    expect(r.polynomial).toBe(false);
    expect(r.barriers).toHaveLength(1);
    expect(r.barriers[0]).toMatchObject({
      kind: 'l1norm',
      loc: 't.poly:9:24',
      scope: ':model',
      segment: 1,
      inputSegment: 0,
      input: { degree: '8', depthAsWritten: 4, depthBalanced: 3 },
    });
    // v (degree 1, segment 0) times the barrier's output (a fresh degree-1 variable, segment 1).
    expect(r.outputs[0]).toMatchObject({ degree: '2', segment: 1, depthAsWritten: 1 });
    expect(r.segments.map((s) => s.degree)).toEqual(['8', '2']);
    expect(formatDegreeReport(r)).toContain('t.poly:9:24');
  });

  it('sums take the max of their operands', () => {
    const m = build('  return x * x * x + pwconv(self.a, x, out=4) + x * x');
    expect(out(m).degree).toBe('3');
  });

  it('x^4: depth 3 as written, 2 by repeated squaring', () => {
    expect(out(build('  return x ^ 4'))).toMatchObject({ degree: '4', depthAsWritten: 3, depthBalanced: 2 });
  });

  it('a.(b.(c.d)): depth 3 as written, 2 balanced', () => {
    const m = build(`
  a = pwconv(self.a, x, out=4)
  b = pwconv(self.b, x, out=4)
  c = pwconv(self.c, x, out=4)
  d = pwconv(self.d, x, out=4)
  return a * (b * (c * d))`);
    expect(out(m)).toMatchObject({ degree: '4', depthAsWritten: 3, depthBalanced: 2 });
  });

  it('products with constants are free and keep the degree', () => {
    const m = build('  return (x * sigmoid(param(self.s, [1])) * 3 - 1) / 2');
    expect(out(m)).toMatchObject({ degree: '1', depthAsWritten: 0, depthBalanced: 0 });
  });

  it('a tiny BatchNorm network: its exact degree, worked out by hand', () => {
    const m = build(`
  y = batchnorm2d(self.n, x * x)
  z = y * flip(y) + x
  return (z ^ 3) / 2`);
    // y: BN is affine at inference, so degree 2, depth 1. z: 2 + 2 = 4 (the +x keeps the max), depth 2.
    // z^3: 3 x 4 = 12; depth 2 + 2 as written (z.z.z), 2 + ceil(log2 3) = 4 balanced; /2 is free.
    expect(report(m).polynomial).toBe(true);
    expect(out(m)).toMatchObject({ degree: '12', depthAsWritten: 4, depthBalanced: 4 });
    expect(out(m).log2).toBeCloseTo(Math.log2(12), 12);
  });
});

describe('degree analysis on IR', () => {
  const ir = (body: string): Module => {
    const m = readModule(`module t batch B {\n${body}\n}\n`);
    expect(verifyModule(m)).toEqual([]);
    return m;
  };

  it('rsqrt, max and division by data are barriers; looks inside fused regions', () => {
    const m = ir(`
  %0 = input {name="x"} : f32[B,4]
  %1 = mul(%0, %0) : f32[B,4]
  %2 = rsqrt(%1) : f32[B,4] loc("n.poly":3:5+5) scope "a:norm"
  %3 = fused(%1, %2) {kind="elementwise"} : f32[B,4] {
    %0 = arg {index=0} : f32[B,4]
    %1 = arg {index=1} : f32[B,4]
    %2 = mul(%0, %1) : f32[B,4]
    %3 = max(%2, %0) : f32[B,4]
    %4 = mul(%3, %3) : f32[B,4]
    yield %4
  }
  %4 = div(%3, %1) : f32[B,4]
  return %4`);
    const r = report(m);
    expect(r.barriers.map((b) => [b.kind, b.id, b.innerId, b.loc, b.input.degree])).toEqual([
      ['rsqrt', 2, null, 'n.poly:3:5', '2'],
      // In the region: arg 0 is %1 (degree 2), arg 1 the rsqrt (segment 1, degree 1): their product
      // has degree 3 in segment 1.
      ['max', 3, 3, null, '3'],
      // The fused result squares the max (segment 2, degree 2), then is divided by x^2.
      ['div', 4, null, null, '2'],
    ]);
    expect(r.outputs[0]).toMatchObject({ degree: '1', segment: 3 });
    expect(formatDegreeReport(r)).toContain('polynomial: no');
  });

  it('a mul tree with a shared inner product is balanced only over single-use nodes', () => {
    const m = ir(`
  %0 = input {name="x"} : f32[B,4]
  %1 = mul(%0, %0) : f32[B,4]
  %2 = mul(%1, %0) : f32[B,4]
  %3 = mul(%2, %0) : f32[B,4]
  %4 = mul(%3, %0) : f32[B,4]
  %5 = add(%4, %2) : f32[B,4]
  return %5`);
    // %2 has two uses, so the tree at %4 has leaves %2 (depth 2), x, x: Huffman gives x.x (1), then
    // max(1, 2) + 1 = 3, against 4 as written.
    expect(out(m)).toMatchObject({ degree: '5', depthAsWritten: 4, depthBalanced: 3 });
  });
});

describe('long products', () => {
  /** x * x * ... * x, n factors, as IR text (the front end's own chain limits are not the point). */
  const chain = (n: number): Module => {
    const lines = ['module chain batch B {', '  %0 = input {name="x"} : f32[B,4]'];
    lines.push('  %1 = mul(%0, %0) : f32[B,4]');
    for (let i = 2; i < n; i++) lines.push(`  %${i} = mul(%${i - 1}, %0) : f32[B,4]`);
    lines.push(`  return %${n - 1}`, '}');
    return readModule(lines.join('\n'));
  };

  it.each([1000, 10000])('%i factors: exact degree and depths, in linear time', (n) => {
    const m = chain(n);
    const start = performance.now();
    // n leaves of depth 0 balance into ceil(log2 n) levels.
    expect(out(m)).toMatchObject({
      degree: String(n),
      depthAsWritten: n - 1,
      depthBalanced: Math.ceil(Math.log2(n)),
    });
    // Quadratic was 31 s for 1000 factors; linear is a few ms even for 10000 on a loaded machine.
    expect(performance.now() - start).toBeLessThan(2000);
  });
});

describe('helpers', () => {
  it('balancedDepth combines the two shallowest leaves first', () => {
    expect(balancedDepth([0, 0, 0, 0])).toBe(2);
    expect(balancedDepth([0, 0, 0])).toBe(2);
    expect(balancedDepth([3, 0, 0, 0, 0])).toBe(4);
    expect(balancedDepth([5])).toBe(5);
  });

  it('balancedDepth equals the Huffman rule run step by step on random leaf depths', () => {
    const huffman = (leaves: number[]): number => {
      const pending = [...leaves];
      while (pending.length > 1) {
        pending.sort((a, b) => a - b);
        const [a, b] = pending.splice(0, 2) as [number, number];
        pending.push(Math.max(a, b) + 1);
      }
      return pending[0]!;
    };
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let t = 0; t < 300; t++) {
      const leaves = Array.from({ length: 1 + (next() % 40) }, () => next() % 70);
      expect(balancedDepth(leaves)).toBe(huffman(leaves));
    }
  });

  it('log2Big is exact on powers of two and close on huge values', () => {
    expect(log2Big(0n)).toBeNull();
    expect(log2Big(1n)).toBe(0);
    expect(log2Big(1n << 4000n)).toBe(4000);
    expect(log2Big(3n ** 1000n)).toBeCloseTo(1000 * Math.log2(3), 9);
  });
});

describe('degree analysis on the examples', () => {
  it('CPolyNeXt-T-BN is a polynomial: 72 PolyConv/PolyMLP doublings and the head product, 2^73', () => {
    const r = report(buildExample('examples/cpolynext_t_bn.poly'));
    expect(r.polynomial).toBe(true);
    expect(r.barriers).toEqual([]);
    expect(r.outputs[0]).toMatchObject({
      degree: (2n ** 73n).toString(),
      log2: 73,
      depthAsWritten: 73,
      depthBalanced: 73,
    });
    expect(formatDegreeReport(r)).toMatch(
      /^polynomial: yes \u2014 degree 9444732965739290427392 \(log2 \u2248 73\.0\)/,
    );
  });

  it('APolyNeXt-T-BN: each attention node multiplies the degree by 9, each MLP by 2', () => {
    // 4 conv cells (24 doublings), 8 attention cells of 3 x (9, 2), then the head's doubling.
    const r = report(buildExample('examples/apolynext_t_bn.poly'));
    expect(r.outputs[0]!.degree).toBe((2n ** 25n * (9n * 2n) ** 24n).toString());
    // Attention costs 5 levels as written (q.k, ^4 as 3, v.P) and 4 balanced; conv and MLP nodes 1.
    expect(r.outputs[0]).toMatchObject({ depthAsWritten: 24 + 8 * 18 + 1, depthBalanced: 24 + 8 * 15 + 1 });
  });

  it('CPolyNeXt-T lists its 85 LayerNorms as barriers, at the norm block of the library', () => {
    const r = report(buildExample('examples/cpolynext_t.poly'));
    expect(r.polynomial).toBe(false);
    // 12 cells x (input norm + 6 node norms) + the final norm.
    expect(r.barriers).toHaveLength(85);
    expect(new Set(r.barriers.map((b) => b.kind))).toEqual(new Set(['layernorm2d']));
    expect(r.barriers[0]).toMatchObject({
      loc: 'examples/lib/polynext.poly:44:31',
      scope: 'cells.0.postprocess:norm',
      input: { degree: '1' },
    });
    // Between LayerNorms the degree stays small: the head's l + l * z gives the output degree 2.
    expect(r.outputs[0]).toMatchObject({ degree: '2', segment: 85 });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });
});
