import type { Cost } from '../../analysis/cost.js';
import type { DegreeReport } from '../../analysis/degree.js';

/**
 * README.md of a generated package: a model card (what the model is, its size and cost, its
 * polynomial degree and depth, its input and preprocessing, where the weights come from) and usage.
 */

export interface CardInfo {
  readonly packageName: string;
  readonly model: string;
  readonly source: string;
  readonly settings: Readonly<Record<string, number | boolean | string>>;
  /** SPDX licence expression (or npm's 'UNLICENSED'). */
  readonly license: string;
  /** The class names `topk` gives: how many, and whether they are the built-in ImageNet-1k ones. */
  readonly labels: { readonly count: number; readonly imagenet: boolean } | null;
  readonly polycVersion: string;
  readonly cost: Cost;
  readonly degree: DegreeReport;
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  readonly maxBatch: number;
  readonly preprocess: { readonly size: number; readonly resize: number } | null;
  readonly weights: {
    readonly synthetic: boolean;
    readonly checkpoint: string | null;
    readonly checkpointSha256: string | null;
    readonly byteLength: number;
    readonly sha256: string;
    /** With `--weights-dtype f16`: the logit error measured at compile time, and the rounding's effects. */
    readonly float16: {
      /** max |logit_f16 - logit_f32| / max |logit_f32| on one deterministic input image. */
      readonly relative: number;
      readonly maxAbsDiff: number;
      readonly maxAbsLogit: number;
      /** Nonzero weights that became float16 subnormals, or zero. */
      readonly subnormal: number;
      readonly flushed: number;
      /** weights.bin's size as float32. */
      readonly float32Bytes: number;
      /** Tensors in weights.bin; those of fewer than `minElements` elements, kept float32, and their bytes. */
      readonly tensors: number;
      readonly minElements: number;
      readonly float32Tensors: number;
      readonly float32TensorBytes: number;
    } | null;
  };
  readonly webgpu: {
    readonly dispatches: number;
    readonly kernels: number;
    readonly arenaBytes: number;
    /** `polyc tune`'s choices: for which adapter, and how many steps they rendered. */
    readonly tuned: { readonly adapter: string; readonly steps: number } | null;
  };
  readonly cpu: {
    readonly loopNests: number;
    readonly kernels: number;
    readonly arenaBytes: number;
    /** Loop nests with a WebAssembly SIMD kernel, and the module's size. */
    readonly wasm: { readonly calls: number; readonly bytes: number };
  };
}

/** The paper (title, arXiv id and venue as ../shared/docs/polynext-reference.md gives them; no authors listed there). */
const CITATION = [
  '@inproceedings{polynext2026,',
  '  title     = {Activation-Free Backbones for Image Recognition: Polynomial Alternatives within MetaFormer-Style Vision Models},',
  '  booktitle = {International Conference on Machine Learning (ICML)},',
  '  year      = {2026},',
  '  eprint    = {2605.20839},',
  '  archivePrefix = {arXiv},',
  '}',
];

const MIB = 2 ** 20;
const mib = (b: number) => `${(b / MIB).toFixed(2)} MiB`;
const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;

function degreeText(r: DegreeReport): string[] {
  const depth = (f: { depthAsWritten: number; depthBalanced: number }) =>
    `${f.depthAsWritten} as written, ${f.depthBalanced} balanced`;
  if (r.polynomial) {
    return r.outputs.map(
      (o) =>
        `| polynomial degree | ${o.degree} (log2 ≈ ${o.log2?.toFixed(1) ?? '-inf'}): the logits are a polynomial of the input |\n` +
        `| multiplicative depth | ${depth(o)} |`,
    );
  }
  const top = r.segments.reduce((a, s) => (BigInt(s.degree) > BigInt(a.degree) ? s : a));
  const kinds = [...new Set(r.barriers.map((b) => b.kind))].join(', ');
  return [
    `| polynomial degree | not one polynomial: ${r.barriers.length} normalisations (${kinds}) split it into ` +
      `${r.segments.length} polynomial segments of degree at most ${top.degree} |`,
    `| multiplicative depth | at most ${Math.max(...r.segments.map((s) => s.depthAsWritten))} as written, ` +
      `${Math.max(...r.segments.map((s) => s.depthBalanced))} balanced, per segment |`,
  ];
}

function float16Rows(f: CardInfo['weights']['float16']): string[] {
  if (f === null) return ['| weights dtype | float32 |'];
  const lost =
    f.subnormal + f.flushed > 0
      ? `; ${f.subnormal.toLocaleString('en-US')} weights became subnormal and ${f.flushed.toLocaleString('en-US')} became zero`
      : '';
  const kept =
    f.float32Tensors > 0
      ? `; the ${f.float32Tensors.toLocaleString('en-US')} of ${f.tensors.toLocaleString('en-US')} tensors under ${f.minElements.toLocaleString('en-US')} elements (${kib(f.float32TensorBytes)}) stay float32`
      : '';
  return [
    `| weights dtype | float16 (IEEE binary16, round to nearest even; ${mib(f.float32Bytes)} as float32)${kept}, widened to float32 on load${lost} |`,
    `| float16 logit error | ${f.relative.toExponential(2)} relative to float32 (max \\|diff\\| ${f.maxAbsDiff.toExponential(
      2,
    )} / max \\|logit\\| ${f.maxAbsLogit.toExponential(2)}), measured with the package's CPU kernels on one deterministic input image |`,
  ];
}

export function modelCard(c: CardInfo): string {
  const settings = Object.entries(c.settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const image = c.inputShape.join(' × ');
  const classes = c.outputShape.reduce((a, b) => a * b, 1);
  const w = c.weights;
  const warning = w.synthetic
    ? [
        '> **Warning: random weights.** This package was compiled without `--weights`: it holds',
        '> deterministic random weights (seed 0), not a trained model. Its predictions are meaningless;',
        '> it is only good for testing the plumbing and measuring speed.',
        '',
      ]
    : [];
  const pre = c.preprocess;
  const preprocessing = pre
    ? [
        'The input is a batch of RGB images as float32 NCHW, preprocessed as in the reference evaluation:',
        '',
        `1. resize so that the shorter side is ${pre.resize} pixels (bicubic; ${pre.resize} = ${pre.size} × 232/224),`,
        `2. center crop ${pre.size} × ${pre.size},`,
        '3. scale to [0, 1],',
        '4. normalise each channel with mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).',
        '',
        "`preprocess(image)` does all of this; its resize follows Pillow's antialiased bicubic resampling.",
        'It takes RGBA or RGB bytes `{ data, width, height }` (anywhere), and in browsers `ImageData`, a',
        'loaded `<img>`, a canvas, an `OffscreenCanvas` or an `ImageBitmap`, read at their natural size.',
        '`model.classify(image, k)` also takes a `Blob`, a `File` or a URL (decoded with the colour values',
        'stored in the file); `readImage(source)` gives any source as bytes.',
      ]
    : [`The input is float32 NCHW, ${image} per image; there is no image preprocessing.`];
  return [
    `# ${c.packageName}`,
    '',
    `\`${c.model}\`, a PolyNeXt polynomial vision network, compiled by polyc ${c.polycVersion} into a`,
    'self-contained package: generated WebGPU kernels (browsers; Node with the optional `webgpu`',
    'package) and generated CPU kernels (anywhere), no dependencies.',
    '',
    ...warning,
    '## Model card',
    '',
    '| | |',
    '|---|---|',
    `| model | \`${c.model}\` from \`${c.source}\`${settings ? ` with ${settings}` : ''} |`,
    `| weights | ${
      w.synthetic
        ? '**deterministic random weights (seed 0), not trained**'
        : `checkpoint \`${w.checkpoint}\`${w.checkpointSha256 ? ` (SHA-256 ${w.checkpointSha256})` : ''}`
    } |`,
    `| parameters | ${c.cost.params.toLocaleString('en-US')} (${(c.cost.params / 1e6).toFixed(2)} M)${
      c.cost.buffers > 0 ? `, plus ${c.cost.buffers.toLocaleString('en-US')} running statistics` : ''
    } |`,
    `| FLOPs | ${(c.cost.flops / 1e9).toFixed(3)} G per image (a multiply-add counts 2) |`,
    ...degreeText(c.degree),
    `| input | float32 [batch, ${c.inputShape.join(', ')}] (NCHW), batch 1 to ${c.maxBatch} |`,
    `| output | float32 [batch, ${c.outputShape.join(', ')}]: ${classes} logits per image |`,
    `| WebGPU | ${c.webgpu.dispatches} dispatches in one submit, ${c.webgpu.kernels} distinct kernels, ${mib(
      c.webgpu.arenaBytes,
    )} of activations at batch ${c.maxBatch}${
      c.webgpu.tuned
        ? `; ${c.webgpu.tuned.steps} steps use kernel variants tuned for the adapter '${c.webgpu.tuned.adapter}'`
        : ''
    } |`,
    `| CPU | ${c.cpu.loopNests} loop nests (${c.cpu.kernels} distinct), ${c.cpu.wasm.calls} of them WebAssembly SIMD kernels ` +
      `(a ${(c.cpu.wasm.bytes / 1024).toFixed(0)} KiB module), ${mib(c.cpu.arenaBytes)} of activations |`,
    `| weights.bin | ${mib(w.byteLength)}, SHA-256 ${w.sha256} |`,
    ...float16Rows(w.float16),
    `| labels | ${
      c.labels === null
        ? 'none (`topk` gives label null)'
        : c.labels.imagenet
          ? "ImageNet-1k's 1000 class names in torchvision's order (`LABELS`)"
          : `${c.labels.count} class names given at compile time (\`LABELS\`)`
    } |`,
    `| license | ${c.license} |`,
    '',
    '## Input',
    '',
    ...preprocessing,
    '',
    '## Usage',
    '',
    '```js',
    `import { Model, ${pre ? 'preprocess' : 'IMAGE_FLOATS'} } from '${c.packageName}';`,
    '',
    "// 'auto' (default): WebGPU on a hardware adapter, else the generated CPU kernels.",
    'const model = await Model.create({',
    "  onProgress: (loaded, total) => console.log('weights', loaded, '/', total, 'bytes'),",
    '});',
    'console.log(model.backend, model.adapterInfo);',
    '',
    ...(pre
      ? [
          '// One image: an <img>, a File from an <input type=file> or a drop, a URL, a canvas, ImageData,',
          '// or { data, width, height } RGBA bytes (Node).',
          'console.log(await model.classify(image, 5)); // [{ index, label, logit, prob }, ...]',
          '',
          ...(c.maxBatch >= 2
            ? [
                '// Or step by step, for batches: pixel sources to a Float32Array, run, top-k per image.',
                'const input = preprocess([image1, image2]);',
              ]
            : [
                '// Or step by step: pixel sources to a Float32Array, run, top-k.',
                'const input = preprocess(image);',
              ]),
        ]
      : [`const input = new Float32Array(IMAGE_FLOATS); // one image, ${image}`]),
    'const { logits } = await model.run(input);',
    'console.log(model.topk(logits, 5)); // [[{ index, label, logit, prob }, ...]] per image',
    'model.destroy();',
    '```',
    '',
    "- `Model.create({ backend, device, weights, threads, onProgress, cache })`: `backend` is `'auto'`, `'webgpu'` or",
    "  `'cpu'`; `device` a WebGPU device to use; `weights` a path (Node), a URL or the bytes of",
    '  weights.bin (default: the one next to index.js, read with `fs` in Node and `fetch` in browsers).',
    '  The weights are checked (length and SHA-256) before use. `threads`: threads of the CPU kernels',
    '  (default min(4, cores) in Node and in a worker of a cross-origin-isolated page, else 1; `model.threads`).',
    "  `cache: true` (browsers) keeps the weights in the Cache API ('polyc-weights', by SHA-256): later page",
    '  loads read them from there, checked again; without the Cache API they are fetched as usual.',
    '- `Model.createInWorker(options)` (browsers): the same model in a Web Worker, off the main thread.',
    `- \`run(input, { batch })\`: \`input\` is a Float32Array of batch × ${image} floats; the batch`,
    `  defaults to the number of whole images in it (1 to ${c.maxBatch}). Errors are \`ModelError\``,
    "  (`code`: `'bad-input'`, `'bad-weights'`, `'weights-not-served'`, `'weights-html'`,",
    "  `'weights-unreachable'`, `'bad-options'`; for images `'unsupported-image'`, `'bad-image'`,",
    "  `'image-fetch-failed'`) or, from WebGPU, `RuntimeError`.",
    '- In Node, WebGPU needs the `webgpu` package (`npm i webgpu`, an optional peer dependency);',
    '  without it `auto` runs on the CPU. In browsers, WebGPU needs a secure context (https or localhost).',
    '- `INPUT_SHAPE`, `OUTPUT_SHAPE`, `NUM_CLASSES`, `MAX_BATCH`, `PREPROCESS` and `WEIGHTS` are exported constants.',
    '',
    '## Bundlers',
    '',
    'Import the package by its name. Vite (dev server and build), webpack 5 and the other bundlers that',
    "understand `new URL('./weights.bin', import.meta.url)` copy weights.bin as an asset and make",
    "`createInWorker`'s worker a chunk, with no configuration. Without a bundler, serve the package's",
    'directory as it is (a `<script type="module">` importing its index.js, or an import map). The server',
    "must answer weights.bin's URL with the file itself: a 404 is `ModelError('weights-not-served')`, an",
    "HTML page (a single-page-app fallback) `ModelError('weights-html')`, both naming the URL. Weights",
    "elsewhere (a CDN): `Model.create({ weights: 'https://.../weights.bin' })`. CPU threads in browsers",
    'need a cross-origin-isolated page (`Cross-Origin-Opener-Policy: same-origin`,',
    '`Cross-Origin-Embedder-Policy: require-corp`) and a worker (`createInWorker`).',
    '',
    '## Files',
    '',
    '| file | what |',
    '|---|---|',
    '| `index.js`, `index.d.ts` | the API (generated TypeScript, emitted with ts-morph) |',
    '| `webgpu.js` | the WGSL kernels and the dispatch sequence as straight-line code |',
    '| `cpu.js` | the CPU backend: WebAssembly SIMD kernels (embedded) and, where SIMD is unavailable, specialised TypeScript loops |',
    "| `runtime.js`, `runtime.d.ts` | polyc's WebGPU runtime and the package support code (bundled with esbuild) |",
    '| `weights.bin`, `weights.json` | the weights (little-endian float32) and their manifest (length, SHA-256, layout) |',
    '| `src/` | the generated TypeScript sources |',
    '',
    '## Citation',
    '',
    'PolyNeXt is described in:',
    '',
    '```bibtex',
    ...CITATION,
    '```',
    '',
  ].join('\n');
}
