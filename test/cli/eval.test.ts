import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../compiler/src/cli/main.js';
import { loadWeights } from '../../compiler/src/driver/run.js';
import { interpret } from '../../compiler/src/ir/interpret.js';
import { preprocessImage } from '../../runtime/src/package/preprocess.js';
import { topk } from '../../runtime/src/tensor.js';
import { buildExample, cli, goldenMeta, goldenSettings } from '../helpers.js';

/**
 * `polyc eval` on a generated 3-class ImageFolder (PNGs and a JPEG of several sizes) with the small
 * golden case (10 classes, its checkpoint): every image's top classes equal the interpreter's on
 * the same preprocessed tensors, the accuracy line counts them right, the progress bar shows on a
 * terminal only and never with --json; and each coded diagnostic.
 */

const CASE = 'cpolynext_lr_small';
const meta = goldenMeta(CASE);
const MODEL = [
  'examples/cpolynext_lr.poly',
  ...goldenSettings(meta),
  '--weights',
  `test/golden/${CASE}/weights.pt`,
];
/** Class folders in an order other than sorted, to check torchvision's sorting. */
const CLASSES = ['ship', 'Zebra', 'cat'];
const SORTED = ['Zebra', 'cat', 'ship'];

const dir = mkdtempSync(join(tmpdir(), 'polyc-eval-'));
const data = join(dir, 'data');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let seed = 7;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};

/** Smooth random RGBA pixels (a gradient plus noise), so JPEG keeps them recognisable. */
function pixels(width: number, height: number): Buffer {
  const out = Buffer.alloc(width * height * 4);
  const [a, b, c] = [random() * 255, random() * 255, random() * 255];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      out[p] = (a + (x * 200) / width + random() * 40) % 256;
      out[p + 1] = (b + (y * 200) / height + random() * 40) % 256;
      out[p + 2] = (c + random() * 60) % 256;
      out[p + 3] = 255;
    }
  }
  return out;
}

/** The generated files by class, and the interpreter's top classes of each, in torchvision's order. */
const expected: { file: string; target: number; top: number[] }[] = [];
/** The smallest relative gap between consecutive top-6 logits of an image (ranks a backend must reproduce). */
let minGap = Number.POSITIVE_INFINITY;

beforeAll(() => {
  CLASSES.forEach((name, ci) => {
    mkdirSync(join(data, name, 'more'), { recursive: true });
    for (let i = 0; i < 3; i++) {
      const [width, height] = [30 + 9 * i + ci, 40 - 3 * i];
      const rgba = pixels(width, height);
      // One JPEG per class, one image in a nested folder (torchvision walks class folders recursively).
      const file = i === 0 ? `img${i}.jpg` : i === 1 ? `more/img${i}.png` : `img${i}.png`;
      const bytes =
        i === 0
          ? jpeg.encode({ data: rgba, width, height }, 90).data
          : PNG.sync.write(Object.assign(new PNG({ width, height }), { data: rgba }));
      writeFileSync(join(data, name, file), bytes);
    }
  });
  writeFileSync(join(data, 'cat', 'README.txt'), 'not an image: skipped, as torchvision does');

  // The reference: decoded here, preprocessed by the package's function with the spec a 32x32
  // model's package has (resize 33, crop 32, ImageNet mean/std), run by the interpreter.
  const spec = { size: 32, resize: 33, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  const files = SORTED.flatMap((name, target) =>
    ['img0.jpg', 'img2.png', 'more/img1.png'].map((f) => ({ file: `${name}/${f}`, target })),
  );
  const input = new Float32Array(files.length * 3 * 32 * 32);
  files.forEach(({ file }, i) => {
    const bytes = readFileSync(join(data, file));
    const image = file.endsWith('.jpg')
      ? jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true })
      : PNG.sync.read(bytes);
    input.set(preprocessImage(image, spec), i * 3 * 32 * 32);
  });
  const settings = { init_channels: '16', layers: '8', num_classes: '10', image_size: '32' };
  const m = buildExample('examples/cpolynext_lr.poly', settings);
  const weights = loadWeights(m, readFileSync(`test/golden/${CASE}/weights.pt`), 'weights.pt');
  const [logits] = interpret(m, [{ shape: [files.length, 3, 32, 32], data: input }], weights);
  topk(logits!, 6).forEach((row, i) => {
    expected.push({ ...files[i]!, top: row.slice(0, 5).map((e) => e.index) });
    // Gaps between the logits ranked 1 to 6, against the largest: the backends' error is ~1e-5.
    const scale = Math.max(...row.map((e) => Math.abs(e.value)));
    for (let r = 1; r < row.length; r++)
      minGap = Math.min(minGap, (row[r - 1]!.value - row[r]!.value) / scale);
  });
}, 120_000);

interface Summary {
  backend: string;
  count: number;
  top1: number;
  top5: number;
  correct1: number;
  correct5: number;
  skippedFiles: number;
  classes: { name: string; index: number; count: number; correct1: number; correct5: number }[];
  timing: { totalS: number; imagesPerS: number };
  predictions: { file: string; target: number; top: number[] }[];
}

/** The CLI with a terminal's stderr (a status line) or without, capturing everything. */
async function evalCli(tty: boolean, ...args: string[]) {
  let out = '';
  let err = '';
  const status: (string | null)[] = [];
  const code = await runCli(['eval', ...MODEL, '--data', data, ...args], {
    out: (t) => (out += `${t}\n`),
    err: (t) => (err += `${t}\n`),
    ...(tty ? { status: (t: string | null) => status.push(t) } : {}),
  });
  return { code, out, err, status };
}

const accuracyLine = (hits1: number, hits5: number, n: number) =>
  `top-1 ${((100 * hits1) / n).toFixed(2)}% (${hits1}/${n})  top-5 ${((100 * hits5) / n).toFixed(2)}% (${hits5}/${n})  ${n} images`;

describe('polyc eval', () => {
  it('gives the interpreter top classes for every image on the CPU backend (--json: no progress)', async () => {
    const r = await evalCli(true, '--backend', 'cpu', '--batch', '4', '--json');
    expect(r.code, r.err).toBe(0);
    expect(r.status).toEqual([]);
    expect(r.err).toBe('');
    const s = JSON.parse(r.out) as Summary;
    expect(s.backend).toBe('cpu');
    expect(s.count).toBe(9);
    expect(s.skippedFiles).toBe(1);
    // Not one answer for all: the images' top-5 lists differ, so equal lists mean equal logits' order;
    // and no two ranked logits so close that a backend's rounding could swap them.
    expect(new Set(expected.map((e) => e.top.join())).size).toBeGreaterThan(3);
    expect(minGap).toBeGreaterThan(1e-4);
    expect(s.predictions.map((p) => ({ file: p.file, target: p.target, top: p.top }))).toEqual(expected);
    const hits1 = expected.filter((e) => e.top[0] === e.target).length;
    const hits5 = expected.filter((e) => e.top.includes(e.target)).length;
    expect([s.correct1, s.correct5]).toEqual([hits1, hits5]);
    expect(s.top1).toBeCloseTo(hits1 / 9, 12);
    expect(s.classes.map((c) => [c.name, c.index, c.count])).toEqual(SORTED.map((n, i) => [n, i, 3]));
    expect(s.timing.imagesPerS).toBeGreaterThan(0);
  });

  it('prints the accuracy line, and a progress bar on a terminal only', async () => {
    const hits1 = expected.filter((e) => e.top[0] === e.target).length;
    const hits5 = expected.filter((e) => e.top.includes(e.target)).length;
    const tty = await evalCli(true, '--backend', 'cpu', '--batch', '4');
    expect(tty.code, tty.err).toBe(0);
    expect(tty.out.split('\n')[0]).toContain(accuracyLine(hits1, hits5, 9));
    expect(tty.out).toContain('cpu (CPU (');
    // One line per batch (4, 8, 9 images), then cleared.
    expect(
      tty.status.slice(0, -1).map((t) => /(\d+)\/9 images {2}[\d.]+ images\/s {2}ETA \d+s/.exec(t!)?.[1]),
    ).toEqual(['4', '8', '9']);
    expect(tty.status.at(-1)).toBeNull();
    expect(tty.err).toContain('9 images in 3 classes');
    expect(tty.err).toContain('1 other files skipped');
    const pipe = await evalCli(false, '--backend', 'cpu', '--batch', '4', '--limit', '5');
    expect(pipe.code, pipe.err).toBe(0);
    expect(pipe.err).not.toContain('ETA');
    const first5 = expected.slice(0, 5);
    expect(pipe.out).toContain(
      accuracyLine(
        first5.filter((e) => e.top[0] === e.target).length,
        first5.filter((e) => e.top.includes(e.target)).length,
        5,
      ),
    );
  });

  it('gives the same top classes on WebGPU, and writes the summary with -o', async () => {
    const out = join(dir, 'summary.json');
    const r = await evalCli(false, '--backend', 'webgpu', '--batch', '3', '--limit', '6', '-o', out);
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(readFileSync(out, 'utf8')) as Summary;
    expect(s.backend).toBe('webgpu');
    expect(s.predictions.map((p) => p.top[0])).toEqual(expected.slice(0, 6).map((e) => e.top[0]));
  }, 240_000);

  it('maps folders to classes with --labels (a JSON object, or names one a line)', async () => {
    const labels = join(dir, 'labels.json');
    writeFileSync(labels, JSON.stringify({ cat: 3, ship: 8, Zebra: 9, unused: 0 }));
    const r = await evalCli(false, '--backend', 'cpu', '--labels', labels, '--json', '--limit', '1');
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out) as Summary;
    expect(s.classes.map((c) => [c.name, c.index])).toEqual([
      ['Zebra', 9],
      ['cat', 3],
      ['ship', 8],
    ]);
    expect(s.predictions[0]!.target).toBe(9);
    const names = join(dir, 'names.txt');
    writeFileSync(names, 'airplane\ncat\nZebra\nship\n');
    const t = await evalCli(false, '--backend', 'cpu', '--labels', names, '--json', '--limit', '1');
    expect((JSON.parse(t.out) as Summary).classes.map((c) => c.index)).toEqual([2, 1, 3]);
  });
});

describe('polyc eval diagnostics', () => {
  const folder = (name: string, files: Record<string, Uint8Array | string>) => {
    const root = join(dir, name);
    for (const [path, bytes] of Object.entries(files)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), bytes);
    }
    mkdirSync(root, { recursive: true });
    return root;
  };
  const png = PNG.sync.write(Object.assign(new PNG({ width: 4, height: 4 }), { data: pixels(4, 4) }));
  const run = (root: string, ...more: string[]) =>
    cli('eval', ...MODEL, '--data', root, '--backend', 'cpu', ...more);

  it('E1101: an empty folder, a class folder without images', async () => {
    const empty = await run(folder('empty', {}));
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/error\[E1101\]: '.*empty' has no class folders/);
    const noImages = await run(folder('no-images', { 'a/x.png': png, 'b/notes.txt': 'x' }));
    expect(noImages.err).toMatch(/error\[E1101\]: no images in the class folder 'b'/);
  });

  it('E1102: an undecodable image names its file; formats polyc does not decode fail before evaluating', async () => {
    const root = folder('corrupt', { 'a/good.png': png, 'b/bad.png': png.subarray(0, 40) });
    const r = await run(root);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error\[E1102\]: cannot decode '.*corrupt\/b\/bad\.png': /);
    const text = await run(folder('text', { 'a/x.jpg': 'not a jpeg' }));
    expect(text.err).toMatch(/error\[E1102\]: cannot decode '.*text\/a\/x\.jpg': not a PNG or JPEG file/);
    const bmp = await run(folder('bmp', { 'a/x.png': png, 'a/y.bmp': 'BM' }));
    expect(bmp.err).toMatch(/error\[E1102\]: 1 image in '.*bmp' polyc cannot decode, e\.g\. '.*a\/y\.bmp'/);
  });

  it('E1103: labels that do not name every folder or give an index outside the model', async () => {
    const missing = join(dir, 'missing.json');
    writeFileSync(missing, JSON.stringify({ cat: 0 }));
    const a = await run(data, '--labels', missing);
    expect(a.code).toBe(1);
    expect(a.err).toContain(
      `error[E1103]: labels file ${missing} does not name the class folders 'Zebra', 'ship'`,
    );
    const range = join(dir, 'range.json');
    writeFileSync(range, JSON.stringify({ cat: 0, ship: 1, Zebra: 10 }));
    const b = await run(data, '--labels', range);
    expect(b.err).toContain("maps 'Zebra' to 10, but the model's classes are 0 to 9");
    const many = folder(
      'many',
      Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`c${i}/x.png`, png])),
    );
    const c = await run(many);
    expect(c.err).toContain('error[E1103]: 11 class folders, but the model has 10 classes');
  });

  it('E1104: a model whose input is not an image', async () => {
    const model = join(dir, 'flat.poly');
    writeFileSync(model, 'model flat(x: f32[B, 4]) {\n  return x * x\n}\n');
    const r = await cli('eval', model, '--data', data);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      "error[E1104]: model 'flat' takes [B, 4]: polyc eval needs one batch of square RGB images",
    );
  });

  it('refuses a bad --backend, --batch or --limit, and needs --data', async () => {
    expect((await run(data, '--backend', 'tpu')).err).toContain(
      "--backend must be auto, webgpu or cpu, got 'tpu'",
    );
    expect((await run(data, '--batch', '0')).err).toContain(
      "--batch must be an integer from 1 to 4096, got '0'",
    );
    expect((await run(data, '--limit', 'x')).err).toContain("--limit must be a positive integer, got 'x'");
    expect((await cli('eval', ...MODEL)).err).toContain('the image folder is required: --data <folder>');
  });
});
