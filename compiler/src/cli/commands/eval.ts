import {
  createClassifier,
  type EvalBackend,
  evalShapes,
  evalSummary,
  evaluate,
  formatAccuracy,
  formatProgress,
} from '../../driver/eval.js';
import { scanImageFolder } from '../../driver/image-folder.js';
import { loadWeights, syntheticWeights } from '../../driver/run.js';
import { type Command, EXIT_OK, EXIT_USER, flag, str, usageError } from '../command.js';
import { checkOutput, folderHost, maxFileBytes, readBytes, readTextOrFail, writeAtomic } from '../files.js';
import { loadModel } from '../model.js';
import {
  booleanOption,
  MAX_FILE_SIZE_OPTION,
  MODEL_OPTIONS,
  optionalWeightsOption,
  outputOption,
  stringOption,
} from '../options.js';

const BACKENDS: readonly EvalBackend[] = ['auto', 'webgpu', 'cpu'];

/** A positive integer option, its default, or a usage error (undefined). */
function positive(text: string | undefined, fallback: number | null): number | null | undefined {
  if (text === undefined) return fallback;
  return /^\d+$/.test(text) && Number(text) >= 1 ? Number(text) : undefined;
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'top-1/top-5 accuracy over a labelled image folder (ImageFolder layout), on WebGPU or the CPU',
  operands: '<model.poly>',
  options: [
    ...MODEL_OPTIONS,
    optionalWeightsOption('evaluate'),
    MAX_FILE_SIZE_OPTION,
    stringOption(
      'data',
      '<folder>',
      "the images: one subfolder per class (torchvision's ImageFolder layout; classes in sorted order); PNG and JPEG",
      { required: true },
    ),
    stringOption(
      'labels',
      '<file>',
      'class index of each folder: a JSON object {"folder": index}, or folder names one a line (or a JSON array) in index order',
    ),
    stringOption(
      'backend',
      '<b>',
      "auto (default: WebGPU on a hardware adapter, else the CPU), webgpu or cpu (the package's WebAssembly kernels)",
    ),
    stringOption('batch', '<n>', 'images per run (default 8)'),
    stringOption('limit', '<n>', "evaluate only the first n images (the folder's order: class by class)"),
    booleanOption(
      'json',
      'print the summary as JSON on stdout instead of the accuracy lines (no progress bar)',
    ),
    outputOption('<file>', 'also write the JSON summary to this file'),
  ],
  run: async (inv) => {
    const { io, command } = inv;
    const data = str(inv, 'data');
    if (data === undefined) return usageError(io, command, 'the image folder is required: --data <folder>');
    const backend = (str(inv, 'backend') ?? 'auto') as EvalBackend;
    if (!BACKENDS.includes(backend))
      return usageError(io, command, `--backend must be auto, webgpu or cpu, got '${backend}'`);
    const batch = positive(str(inv, 'batch'), 8);
    if (!batch || batch > 4096)
      return usageError(io, command, `--batch must be an integer from 1 to 4096, got '${str(inv, 'batch')}'`);
    const limit = positive(str(inv, 'limit'), null);
    if (limit === undefined)
      return usageError(io, command, `--limit must be a positive integer, got '${str(inv, 'limit')}'`);
    const json = flag(inv, 'json');
    const maxBytes = maxFileBytes(inv);
    if (maxBytes === null) return EXIT_USER;
    const out = str(inv, 'output');
    if (out) checkOutput(out, 'file');
    const labelsPath = str(inv, 'labels');
    const labels =
      labelsPath === undefined ? undefined : { file: labelsPath, text: readTextOrFail(labelsPath) };

    const started = performance.now();
    const m = loadModel(inv, 'default');
    if (!m) return EXIT_USER;
    const shapes = evalShapes(m.module);
    const root = data.replace(/[\\/]+$/, '') || data;
    const folder = scanImageFolder(root, folderHost, shapes.numClasses, labels);
    const weightsPath = str(inv, 'weights');
    if (!weightsPath)
      io.err(
        'warning: no --weights given: evaluating deterministic random weights (seed 0), not a trained model',
      );
    const weights = weightsPath
      ? loadWeights(m.module, readBytes(weightsPath, maxBytes), weightsPath)
      : syntheticWeights(m.module);
    const count = Math.min(limit ?? Number.POSITIVE_INFINITY, folder.samples.length);
    if (!json) {
      io.err(
        `${folder.samples.length} images in ${folder.classes.length} classes in ${root}` +
          (folder.skipped > 0 ? ` (${folder.skipped} other files skipped)` : '') +
          (count < folder.samples.length ? `; evaluating the first ${count}` : ''),
      );
    }
    const classifier = await createClassifier(m.module, weights, backend, Math.min(batch, count), m.context);
    // The bar only on a terminal, and never under --json, whose reader wants stdout and stderr clean.
    const status = json ? undefined : io.status;
    try {
      const loadMs = performance.now() - started;
      if (classifier.fallbackReason !== undefined && !json)
        io.err(`note: on the CPU: ${classifier.fallbackReason}`);
      const result = await evaluate(folder, folderHost, shapes, classifier, {
        batch,
        ...(limit === null ? {} : { limit }),
        ...(status ? { onProgress: (p) => status(formatProgress(p)) } : {}),
      });
      const summary = evalSummary(
        result,
        { model: m.module.name, data: root, batch, limit, skipped: folder.skipped, loadMs },
        classifier,
      );
      const text = `${JSON.stringify(summary, null, 2)}\n`;
      if (out) writeAtomic(out, text);
      if (json) {
        io.out(text.trimEnd());
        return EXIT_OK;
      }
      io.out(formatAccuracy(result, classifier));
      if (result.classes.length <= 20) {
        for (const c of result.classes) {
          io.out(`  ${c.index} ${c.name}: ${c.correct1}/${c.count} top-1, ${c.correct5}/${c.count} top-5`);
        }
      }
      if (out) io.out(`wrote ${out}: the JSON summary with every image's top classes`);
      return EXIT_OK;
    } finally {
      // A failure mid-run (an undecodable image) leaves no half-drawn bar before its diagnostic.
      status?.(null);
      classifier.destroy();
    }
  },
};
