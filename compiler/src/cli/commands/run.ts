import { queryAdapter } from '../../../../runtime/src/index.js';
import { writeF32, writeNpy } from '../../driver/npy.js';
import { formatProfile } from '../../driver/profile.js';
import { randomInput } from '../../driver/random-weights.js';
import { loadInput, loadWeights, runModel, syntheticWeights, topk } from '../../driver/run.js';
import { adapterKey } from '../../driver/tune-cache.js';
import { describeTuned, formatWebGpuStats, runOnWebGpu } from '../../driver/webgpu.js';
import type { Tensor } from '../../ir/interpret.js';
import { type Command, EXIT_OK, EXIT_USER, flag, str, usageError } from '../command.js';
import { checkOutput, maxFileBytes, readBytes, writeAtomic } from '../files.js';
import { loadModel, loadTuned } from '../model.js';
import {
  booleanOption,
  MAX_FILE_SIZE_OPTION,
  MODEL_OPTIONS,
  outputOption,
  stringOption,
  TUNE_CACHE_OPTION,
} from '../options.js';

/** The most timings per step `--repeats` takes. */
const MAX_REPEATS = 1000;

export const run: Command = {
  name: 'run',
  summary: 'run a model with checkpoint weights on an input (reference interpreter or WebGPU)',
  operands: '<model.poly>',
  options: [
    ...MODEL_OPTIONS,
    stringOption(
      'weights',
      '<file>',
      'PyTorch checkpoint (.pt/.pth, torch.save zip) or .safetensors (default: deterministic random weights, with a warning)',
    ),
    stringOption(
      'input',
      '<file>',
      'input images: .npy (float32/float64) or raw little-endian float32 (default: a deterministic random batch)',
    ),
    stringOption(
      'input-shape',
      'N,C,H,W',
      'the shape of a raw float32 input, or of the random one (default batch 1)',
    ),
    outputOption('<file>', 'write the logits: .npy by extension, else raw float32'),
    stringOption('top', '<k>', 'how many classes to print per image (default 5)'),
    stringOption('backend', '<b>', 'interp (the reference interpreter, default) or webgpu (WGSL kernels)'),
    booleanOption('stats', 'with webgpu: print dispatches, submits, bytes moved and memory'),
    booleanOption(
      'profile',
      'with webgpu: time every step (GPU timestamps where the adapter has them); print time per kernel kind and the top 10 kernels',
    ),
    stringOption(
      'repeats',
      '<n>',
      'with --profile: timings per step, each step reports the median (default 3, at most 1000)',
    ),
    { ...TUNE_CACHE_OPTION, description: `with webgpu: ${TUNE_CACHE_OPTION.description}` },
    MAX_FILE_SIZE_OPTION,
  ],
  run: async (inv) => {
    const { io, command } = inv;
    const weightsPath = str(inv, 'weights');
    const inputPath = str(inv, 'input');
    const shapeText = str(inv, 'input-shape');
    const shape = shapeText === undefined ? null : parseShape(shapeText);
    if (shape === undefined)
      return usageError(io, command, `--input-shape must look like 2,3,64,64, got '${shapeText}'`);
    const topText = str(inv, 'top') ?? '5';
    const k = Number(topText);
    if (!Number.isInteger(k) || k < 1)
      return usageError(io, command, `--top must be a positive integer, got '${topText}'`);
    const backend = str(inv, 'backend') ?? 'interp';
    if (backend !== 'interp' && backend !== 'webgpu') {
      return usageError(io, command, `--backend must be interp or webgpu, got '${backend}'`);
    }
    const profile = flag(inv, 'profile');
    if (profile && backend !== 'webgpu') return usageError(io, command, '--profile needs --backend webgpu');
    if (str(inv, 'tune-cache') !== undefined && backend !== 'webgpu')
      return usageError(io, command, '--tune-cache needs --backend webgpu');
    const repeatsText = str(inv, 'repeats') ?? '3';
    const repeats = Number(repeatsText);
    // Bounded like `polyc tune --runs`: a profile of a large model takes seconds per repeat.
    if (!/^\d+$/.test(repeatsText) || repeats < 1 || repeats > MAX_REPEATS)
      return usageError(
        io,
        command,
        `--repeats must be an integer from 1 to ${MAX_REPEATS}, got '${repeatsText}'`,
      );
    const maxBytes = maxFileBytes(inv);
    if (maxBytes === null) return EXIT_USER;
    const out = str(inv, 'output');
    // Before the work: a path polyc would refuse to write is refused at once.
    if (out) checkOutput(out, 'file');
    const m = loadModel(inv, 'default');
    if (!m) return EXIT_USER;
    if (!weightsPath) {
      io.err(
        'warning: no --weights given: running deterministic random weights (seed 0), not a trained model',
      );
    }
    const weights = weightsPath
      ? loadWeights(m.module, readBytes(weightsPath, maxBytes), weightsPath)
      : syntheticWeights(m.module);
    let input: Tensor;
    if (inputPath) {
      input = loadInput(m.module, readBytes(inputPath, maxBytes), inputPath, shape);
    } else {
      const want = m.module.ops.find((o) => o.op === 'input')!.type.shape;
      const randomShape = shape ?? want.map((d) => (typeof d === 'number' ? d : 1));
      io.err(`note: no --input given: a deterministic random input [${randomShape.join(', ')}]`);
      // Through loadInput, so that a wrong --input-shape gets the same error as a wrong file.
      input = loadInput(m.module, writeF32(randomInput(randomShape).data), '(random input)', randomShape);
    }
    let logits: Tensor | undefined;
    if (backend === 'webgpu') {
      // The choices of the adapter this run gets (the same request as the run's own).
      const tuned =
        str(inv, 'tune-cache') === undefined
          ? undefined
          : loadTuned(inv, adapterKey((await queryAdapter()).adapter));
      const result = await runOnWebGpu(
        m.module,
        weights,
        input,
        profile ? { repeats } : undefined,
        m.context,
        tuned?.choices,
      );
      if (tuned) io.err(`note: ${describeTuned(result.compiled)}`);
      logits = result.outputs[0];
      if (flag(inv, 'stats')) io.err(formatWebGpuStats(result));
      if (result.profile) io.err(formatProfile(result.profile));
    } else {
      [logits] = runModel(m.module, input, weights);
    }
    if (out) {
      const npy = out.endsWith('.npy');
      writeAtomic(out, npy ? writeNpy(logits!.shape, logits!.data) : writeF32(logits!.data));
      io.out(
        `wrote ${out}: f32[${logits!.shape.join(',')}]${npy ? ' (.npy)' : ' (raw little-endian float32)'}`,
      );
    }
    topk(logits!, Math.min(k, logits!.shape[1] ?? k)).forEach((row, b) => {
      io.out(`image ${b}: ${row.map((e) => `${e.index} (${e.value.toFixed(4)})`).join('  ')}`);
    });
    return EXIT_OK;
  },
};

function parseShape(text: string): number[] | undefined {
  const dims = text.split(/[,x]/).map((s) => Number(s.trim()));
  return dims.length > 0 && dims.every((d) => Number.isSafeInteger(d) && d > 0) ? dims : undefined;
}
