import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkInput, topkRows } from '../../runtime/src/package/check.js';
import { pixelsOf, readImage } from '../../runtime/src/package/image.js';
import { preprocessImage, resizedSize } from '../../runtime/src/package/preprocess.js';
import { sha256, sha256Hex, toFloat32 } from '../../runtime/src/package/weights.js';

/**
 * The support code bundled into every package's runtime.js (runtime/src/package; its browser
 * safety is checked by test/runtime/browser-safe.test.ts).
 */

const SPEC = { size: 32, resize: 33, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

describe('package support code', () => {
  it('SHA-256: the JavaScript fallback agrees with node:crypto', async () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 1000, 100_003]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255);
      const want = createHash('sha256').update(bytes).digest('hex');
      expect(Buffer.from(sha256(bytes)).toString('hex')).toBe(want);
      expect(await sha256Hex(bytes)).toBe(want);
    }
  });

  it('reads little-endian float32 onto an aligned buffer', () => {
    const bytes = new Uint8Array(9);
    new DataView(bytes.buffer).setFloat32(1, 1.5, true);
    new DataView(bytes.buffer).setFloat32(5, -2, true);
    expect(Array.from(toFloat32(bytes.subarray(1)))).toEqual([1.5, -2]);
  });

  it('preprocess: a flat colour stays flat; shorter side resized, center crop', () => {
    const [w, h] = [50, 40];
    const data = new Uint8ClampedArray(w * h * 4);
    for (let i = 0; i < w * h; i++) data.set([200, 100, 50, 255], i * 4);
    const out = preprocessImage({ data, width: w, height: h }, SPEC);
    expect(out.length).toBe(3 * 32 * 32);
    [200, 100, 50].forEach((v, c) => {
      const want = (v / 255 - SPEC.mean[c]!) / SPEC.std[c]!;
      for (let i = 0; i < 32 * 32; i++) expect(out[c * 1024 + i]).toBeCloseTo(want, 5);
    });
    expect(resizedSize(50, 40, 33)).toEqual([41, 33]);
    expect(resizedSize(40, 50, 232)).toEqual([232, 290]);
  });

  it('preprocess: at the resize size the bicubic resize is the identity and the crop takes the centre', () => {
    const n = 33;
    const data = new Uint8Array(n * n * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 256;
    const out = preprocessImage({ data, width: n, height: n }, SPEC);
    // (33 - 32) / 2 = 0.5 rounds to 0 (Python rounds halves to even, as torchvision's CenterCrop).
    for (const [y, x, c] of [
      [0, 0, 0],
      [5, 7, 1],
      [31, 31, 2],
    ] as const) {
      const v = data[(y * n + x) * 3 + c]!;
      expect(out[c * 1024 + y * 32 + x]).toBeCloseTo((v / 255 - SPEC.mean[c]!) / SPEC.std[c]!, 5);
    }
  });

  it('preprocess rejects malformed images', () => {
    expect(() => preprocessImage({ data: new Uint8Array(10), width: 2, height: 2 }, SPEC)).toThrow(
      /10 bytes for 2x2 pixels is neither RGBA \(16\) nor RGB \(12\)/,
    );
    expect(() => preprocessImage({ data: new Uint8Array(0), width: 0, height: 2 }, SPEC)).toThrow(
      /positive integers/,
    );
  });

  it('checkInput and topkRows', () => {
    const shape = [3, 2, 2];
    expect(checkInput(new Float32Array(24), undefined, shape, 4)).toBe(2);
    expect(() => checkInput(new Float32Array(24), 3, shape, 4)).toThrow(
      'input has 24 floats; batch 3 of [3, 2, 2] needs 36 (12 per image)',
    );
    expect(() => checkInput(new Float32Array(12), 1.5, shape, 4)).toThrow(
      'batch must be an integer, got 1.5',
    );
    expect(() => checkInput(new Float64Array(12), 1, shape, 4)).toThrow(
      /must be a Float32Array .* got Float64Array/,
    );
    // Ties by index; probabilities the softmax of the image's logits; labels by index.
    const e = (xs: number[]) => xs.map((x) => Math.exp(x) / xs.reduce((a, y) => a + Math.exp(y), 0));
    const [p0, p1] = [e([Math.fround(0.1), 0.5, 0.5]), e([3, 2, 1])];
    const rows = topkRows(Float32Array.of(0.1, 0.5, 0.5, 3, 2, 1), 3, 2, ['a', 'b', 'c']);
    const near = (x: number) => expect.closeTo(x, 12);
    expect(rows).toEqual([
      [
        { index: 1, label: 'b', logit: 0.5, prob: near(p0[1]!), value: 0.5 },
        { index: 2, label: 'c', logit: 0.5, prob: near(p0[2]!), value: 0.5 },
      ],
      [
        { index: 0, label: 'a', logit: 3, prob: near(p1[0]!), value: 3 },
        { index: 1, label: 'b', logit: 2, prob: near(p1[1]!), value: 2 },
      ],
    ]);
    // Without labels, label is null; logits far beyond exp's range still give finite probabilities.
    const [big] = topkRows(Float32Array.of(1000, 999, -1000), 3, 3);
    expect(big!.map((p) => p.label)).toEqual([null, null, null]);
    expect(big!.map((p) => p.prob)).toEqual([
      near(1 / (1 + Math.exp(-1))),
      near(Math.exp(-1) / (1 + Math.exp(-1))),
      0,
    ]);
  });

  it('image sources in Node: raw bytes pass through; DOM sources, Blobs and URLs are coded errors', async () => {
    const raw = { data: new Uint8ClampedArray(4 * 6), width: 3, height: 2 };
    expect(pixelsOf(raw)).toBe(raw);
    expect(await readImage(raw)).toBe(raw);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return `${(e as { code?: string }).code}: ${(e as Error).message}`;
      }
      return 'no error';
    };
    // An object of a DOM class (as from jsdom or a canvas package): Node has no canvas to read it.
    class HTMLImageElement {
      readonly naturalWidth = 4;
    }
    type Source = Parameters<typeof pixelsOf>[0];
    expect(code(() => pixelsOf(new HTMLImageElement() as unknown as Source))).toMatch(
      /^unsupported-image: a HTMLImageElement can only be read where it is a DOM object with a canvas \(a browser\)/,
    );
    expect(code(() => pixelsOf(new Blob([]) as unknown as Source))).toMatch(
      /^unsupported-image: preprocess cannot read a Blob synchronously: .* use model.classify or `preprocess\(await readImage\(source\)\)`/,
    );
    expect(code(() => pixelsOf(42 as unknown as Source))).toMatch(
      /^unsupported-image: not an image: got number;/,
    );
    expect(code(() => pixelsOf(Promise.resolve(raw) as unknown as Source))).toMatch(
      /^unsupported-image: preprocess got a Promise: await it first/,
    );
    for (const source of [
      new Blob([new Uint8Array(8)], { type: 'image/png' }),
      'cat.png',
      new URL('https://x.test/a.png'),
    ]) {
      const error = await readImage(source).then(
        () => 'no error',
        (e: { name: string; code: string; message: string }) => `${e.name} ${e.code}: ${e.message}`,
      );
      expect(error).toMatch(
        /^ModelError unsupported-image: decoding .* needs createImageBitmap \(a browser or a Web Worker\), which is missing here; in Node decode the image yourself/,
      );
    }
  });
});
