#!/usr/bin/env node
// Classifies a PNG or JPEG with a package `polyc compile` wrote, as an app would use it:
//
//   node examples/classify.mjs <package dir> <image.png|.jpg> [k]
//
// prints the k (default 5) best classes with their labels and probabilities. The image is decoded
// here (pngjs, jpeg-js) and handed to the package as RGBA bytes: `preprocess` resizes, crops and
// normalises it as the model's reference evaluation does; `run` gives the logits; `topk` the
// labelled probabilities.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

const [dir, file, kText = '5'] = process.argv.slice(2);
if (!dir || !file) {
  console.error('usage: node examples/classify.mjs <package dir> <image.png|.jpg> [k]');
  process.exit(1);
}
const bytes = readFileSync(file);
const image = /\.jpe?g$/i.test(file)
  ? jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true })
  : PNG.sync.read(bytes);

const { Model, preprocess, MODEL_NAME } = await import(pathToFileURL(resolve(dir, 'index.js')).href);
const model = await Model.create();
// Why 'auto' left WebGPU (none here, or a software adapter slower than the CPU kernels).
if (model.fallbackReason) console.error(`note: on the CPU: ${model.fallbackReason}`);
try {
  const { logits } = await model.run(
    preprocess({ data: image.data, width: image.width, height: image.height }),
  );
  console.log(
    `${file} (${image.width}x${image.height}), ${MODEL_NAME} on ${model.backend} (${model.adapterInfo}):`,
  );
  for (const { label, prob, index } of model.topk(logits, Number(kText))[0]) {
    console.log(`  ${(label ?? `class ${index}`).padEnd(12)} ${(100 * prob).toFixed(1).padStart(5)}%`);
  }
} finally {
  model.destroy();
}
