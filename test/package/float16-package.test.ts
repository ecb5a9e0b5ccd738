import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FLOAT16_MIN_ELEMENTS } from '../../compiler/src/codegen/package/float16.js';
import { cli, goldenMeta, goldenSettings, readF32File, relError } from '../helpers.js';
import { linkWebGpu, runNode } from './setup.js';

/**
 * `polyc compile --weights-dtype f16` on both golden cases: weights.bin holds the tensors of
 * FLOAT16_MIN_ELEMENTS elements or more as float16 and the smaller ones as float32, each where
 * weights.json says; the manifest and `WEIGHTS` say float16 and which ranges are float32; the card
 * gives the logit error measured at compile time; and the package, run from plain node on the CPU
 * backend (and on WebGPU for the small case: the widening happens before either backend sees the
 * weights), gives the authors' logits within TOLERANCE. The f32 package reproduces them to about
 * 1e-5 (package.test.ts), so the error here is float16's.
 */

/**
 * max |logit - expected| / max |expected| allowed with float16 weights. PolyNeXt's logits are
 * polynomials of high degree in the weights, so a relative rounding of 2^-12 per weight grows:
 * measured 9.0e-4 (cpolynext_lr_small) and 2.0e-3 (apolynext_s_small), 2.9e-2 and 9.7e-3 with
 * every tensor float16 (docs/package.md, "Float16 weights").
 */
const TOLERANCE = 5e-3;

const CASES = [
  { name: 'cpolynext_lr_small', example: 'examples/cpolynext_lr.poly', webgpu: true },
  { name: 'apolynext_s_small', example: 'examples/apolynext_s.poly', webgpu: false },
] as const;

/** Runs in plain node next to the package's index.js: the golden input on one backend. */
const RUN = `import { readFileSync } from 'node:fs';
import { Model, WEIGHTS } from './index.js';
const [inputPath, backend] = process.argv.slice(2);
const b = readFileSync(inputPath);
const input = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const model = await Model.create({ backend });
const { logits } = await model.run(input);
console.log(JSON.stringify({ backend: model.backend, dtype: WEIGHTS.dtype, float32: WEIGHTS.float32, logits: Array.from(logits) }));
model.destroy();
`;

const root = mkdtempSync(join(tmpdir(), 'polyc-f16-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('polyc compile --weights-dtype f16', () => {
  it('--weights-dtype takes f32 or f16 only (E0701), before any work', async () => {
    const out = join(root, 'bad-dtype');
    const r = await cli('compile', 'examples/cpolynext_lr.poly', '-o', out, '--weights-dtype', 'bf16');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error\[E0701\]: --weights-dtype must be f32 or f16, got 'bf16'/);
    expect(existsSync(out)).toBe(false);
  });

  for (const c of CASES) {
    it(`${c.name}: float16 weights with the small tensors float32, the authors' logits within ${TOLERANCE}`, async () => {
      const meta = goldenMeta(c.name);
      const out = join(root, c.name);
      const r = await cli(
        'compile',
        c.example,
        ...goldenSettings(meta),
        '--weights',
        `test/golden/${c.name}/${meta.weights}`,
        '-o',
        out,
        '--max-batch',
        String(meta.input_shape[0]),
        '--weights-dtype',
        'f16',
      );
      expect(r.err).toMatch(/measuring the logit error of float16 weights/);
      expect(r.code).toBe(0);

      const manifest = JSON.parse(readFileSync(join(out, 'weights.json'), 'utf8'));
      expect(manifest).toMatchObject({ dtype: 'float16', alignment: 8 });
      expect(manifest.length).toBeGreaterThanOrEqual(meta.params);
      // Each tensor's range runs to the next tensor's offset, 2 or 4 bytes an element, in order.
      type Tensor = { offset: number; size: number; dtype: string; byteOffset: number };
      const tensors: Tensor[] = manifest.tensors;
      let byte = 0;
      const float32Runs: [number, number][] = [];
      tensors.forEach((t, i) => {
        expect(t.dtype).toBe(t.size < FLOAT16_MIN_ELEMENTS ? 'float32' : 'float16');
        expect(t.byteOffset).toBe(byte);
        expect(t.byteOffset % manifest.alignment).toBe(0);
        const end = tensors[i + 1]?.offset ?? manifest.length;
        byte += (end - t.offset) * (t.dtype === 'float32' ? 4 : 2);
        const last = float32Runs[float32Runs.length - 1];
        if (t.dtype === 'float16') return;
        if (last?.[1] === t.offset) last[1] = end;
        else float32Runs.push([t.offset, end]);
      });
      expect(manifest.byteLength).toBe(byte);
      expect(statSync(join(out, 'weights.bin')).size).toBe(byte);
      const kept = tensors.filter((t) => t.dtype === 'float32');
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.length).toBeLessThan(tensors.length);
      // Most bytes are float16: well under float32's 4 bytes an element.
      expect(byte).toBeLessThan(manifest.length * 3);

      const card = readFileSync(join(out, 'README.md'), 'utf8');
      const row = /\| float16 logit error \| (\S+) relative to float32/.exec(card);
      expect(row).not.toBeNull();
      const measured = Number(row![1]);
      expect(r.out).toContain(`as float16 (logit error ${row![1]} relative to float32)`);
      expect(card).toMatch(/\| weights dtype \| float16 \(IEEE binary16, round to nearest even;/);
      expect(card).toContain(
        `the ${kept.length} of ${tensors.length} tensors under ${FLOAT16_MIN_ELEMENTS.toLocaleString('en-US')} elements`,
      );

      writeFileSync(join(out, 'run.mjs'), RUN);
      const input = resolve(`test/golden/${c.name}/input.f32`);
      const expected = readF32File(`test/golden/${c.name}/expected.f32`);
      const backends: string[] = ['cpu'];
      if (c.webgpu) {
        mkdirSync(join(out, 'node_modules'));
        linkWebGpu(out);
        backends.push('webgpu');
      }
      for (const backend of backends) {
        const got = runNode<{ backend: string; dtype: string; float32: number[][]; logits: number[] }>(
          out,
          'run.mjs',
          [input, backend],
        );
        expect([got.backend, got.dtype]).toEqual([backend, 'float16']);
        expect(got.float32).toEqual(float32Runs);
        const err = relError(Float32Array.from(got.logits), expected);
        console.log(
          `${c.name} f16 on ${backend}: logits max |diff| / max |expected| = ${err.toExponential(2)} ` +
            `(tolerance ${TOLERANCE}; the card's compile-time figure on a random image: ${row![1]})`,
        );
        expect(err).toBeLessThan(TOLERANCE);
        // Rounding 2^-12 per weight does change the logits: the package really reads float16.
        expect(err).toBeGreaterThan(1e-4);
      }
      expect(measured).toBeGreaterThan(1e-4);
      expect(measured).toBeLessThan(TOLERANCE);
    }, 300_000);
  }
});
