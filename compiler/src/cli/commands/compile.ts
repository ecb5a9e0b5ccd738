import { basename } from 'node:path';
import type { LabelsOption } from '../../codegen/package/labels.js';
import { defaultPackageName, invalidPackageName } from '../../codegen/package/manifest.js';
import { parsePipeline } from '../../passes/pipeline.js';
import { type Command, EXIT_OK, EXIT_USER, flag, str, usageError, VERSION } from '../command.js';
import { checkPackageDir, maxFileBytes, readBytes, readTextOrFail, writeDirAtomic } from '../files.js';
import { loadModel, loadTuned, reportTiming } from '../model.js';
import {
  MAX_FILE_SIZE_OPTION,
  MODEL_OPTIONS,
  optionalWeightsOption,
  outputOption,
  stringOption,
  TUNE_CACHE_OPTION,
} from '../options.js';

export const compile: Command = {
  name: 'compile',
  summary: 'compile a model into a self-contained npm package (WebGPU and CPU kernels, typed API, weights)',
  operands: '<model.poly>',
  options: [
    ...MODEL_OPTIONS,
    optionalWeightsOption('package'),
    outputOption('<dir>', 'the package directory to write (replaced if it holds an earlier package)', true),
    stringOption('name', '<npm-name>', 'the package name (default: the model name, e.g. cpolynext-lr)'),
    stringOption('max-batch', '<n>', 'the largest batch the package runs (default 8)'),
    stringOption(
      'labels',
      '<file|imagenet>',
      "class names for topk: a file (one a line, or a JSON array of strings; as many as the model's classes) or 'imagenet' (default for 1000 classes; none otherwise)",
    ),
    stringOption(
      'license',
      '<spdx>',
      "the package's licence, an SPDX expression, in package.json and the card (default UNLICENSED)",
    ),
    stringOption(
      'weights-dtype',
      '<f32|f16>',
      'how weights.bin stores the weights: f32 (default) or f16, half the size, widened to f32 on load (the card gives the logit error)',
    ),
    TUNE_CACHE_OPTION,
    stringOption(
      'tune-adapter',
      '<key>',
      "with --tune-cache: whose choices to use, an adapter key of the file (default: the file's only adapter)",
    ),
    MAX_FILE_SIZE_OPTION,
  ],
  run: async (inv) => {
    const { io, command } = inv;
    const out = str(inv, 'output');
    if (!out) return usageError(io, command, 'the output directory is required: -o <dir>');
    const batchText = str(inv, 'max-batch') ?? '8';
    const maxBatch = Number(batchText);
    if (!/^\d+$/.test(batchText) || maxBatch < 1 || maxBatch > 4096) {
      return usageError(io, command, `--max-batch must be an integer from 1 to 4096, got '${batchText}'`);
    }
    if (str(inv, 'tune-adapter') !== undefined && str(inv, 'tune-cache') === undefined)
      return usageError(io, command, '--tune-adapter needs --tune-cache');
    const license = str(inv, 'license') ?? 'UNLICENSED';
    if (!/^[A-Za-z0-9.+\-() :]+$/.test(license) || license.trim() === '')
      return usageError(
        io,
        command,
        `--license must be an SPDX expression such as MIT or Apache-2.0, got '${license}'`,
      );
    const dtype = str(inv, 'weights-dtype') ?? 'f32';
    if (dtype !== 'f32' && dtype !== 'f16')
      return usageError(io, command, `--weights-dtype must be f32 or f16, got '${dtype}'`);
    const labelsPath = str(inv, 'labels');
    const labels: LabelsOption =
      labelsPath === undefined || labelsPath === 'imagenet'
        ? labelsPath
        : { file: labelsPath, text: readTextOrFail(labelsPath) };
    checkPackageDir(out);
    const maxBytes = maxFileBytes(inv);
    if (maxBytes === null) return EXIT_USER;
    const tuned = loadTuned(inv, str(inv, 'tune-adapter'));
    if (tuned === null) return EXIT_USER;
    const started = Date.now();
    const progress = (message: string) =>
      io.err(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${message}`);
    // Built as written: the pipeline runs inside compile, after the cost and degree analyses, and
    // `--timing` reports that pipeline and the compile's phases afterwards.
    const m = loadModel({ ...inv, values: { ...inv.values, passes: 'none', timing: false } });
    if (!m) return EXIT_USER;
    const name = str(inv, 'name') ?? defaultPackageName(m.module.name);
    const bad = invalidPackageName(name);
    if (bad) return usageError(io, command, `--name '${name}' is not a valid npm package name: ${bad}`);
    const weightsPath = str(inv, 'weights');
    if (!weightsPath) {
      io.err(
        'warning: no --weights given: the package gets deterministic random weights (seed 0), not a trained model (its README says so)',
      );
    }
    const checkpoint = weightsPath ? { file: weightsPath, bytes: readBytes(weightsPath, maxBytes) } : null;
    // Loaded on demand: ts-morph and esbuild are slow to import and only this command needs them.
    const { compilePackage } = await import('../../driver/compile.js');
    const pkg = await compilePackage({
      module: m.module,
      checkpoint,
      packageName: name,
      maxBatch,
      // Only the file's name: the package must not carry this machine's directories.
      source: basename(inv.positionals[0]!),
      settings: m.settings,
      labels,
      license,
      weightsDtype: dtype,
      polycVersion: VERSION,
      pipeline: parsePipeline(str(inv, 'passes') ?? 'default'),
      ...(tuned?.adapter ? { tuned: { adapter: tuned.adapter, choices: tuned.choices } } : {}),
      progress,
    });
    reportTiming(inv, pkg.passes);
    if (flag(inv, 'timing')) {
      const width = Math.max(...pkg.phases.map((p) => p.name.length));
      io.err(
        [
          'compile phases:',
          ...pkg.phases.map((p) => `  ${p.name.padEnd(width)}  ${p.ms.toFixed(0).padStart(7)} ms`),
        ].join('\n'),
      );
    }
    progress(`writing ${pkg.files.size} files`);
    writeDirAtomic(out, pkg.files);
    const s = pkg.summary;
    io.out(
      `wrote ${out}: npm package '${name}', ${s.webgpu.dispatches} WebGPU dispatches, ${s.cpu.loopNests} CPU loop nests ` +
        `(${s.cpu.wasm.calls} as WebAssembly SIMD kernels), ` +
        `weights ${(s.weights.byteLength / 1e6).toFixed(2)} MB${s.weights.synthetic ? ' (RANDOM, not trained)' : ''}` +
        (s.weights.float16
          ? ` as float16 (logit error ${s.weights.float16.relative.toExponential(2)} relative to float32)`
          : ''),
    );
    return EXIT_OK;
  },
};
