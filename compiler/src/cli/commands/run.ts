import { writeF32, writeNpy } from '../../driver/npy.js';
import { loadInput, loadWeights, runModel, topk } from '../../driver/run.js';
import { formatWebGpuStats, runOnWebGpu } from '../../driver/webgpu.js';
import type { Tensor } from '../../ir/interpret.js';
import { type Command, EXIT_OK, EXIT_USER, flag, str, usageError } from '../command.js';
import { readBytes, writeAtomic } from '../files.js';
import { loadModel } from '../model.js';
import { booleanOption, MODEL_OPTIONS, outputOption, stringOption } from '../options.js';

export const run: Command = {
  name: 'run',
  summary: 'run a model with checkpoint weights on an input (reference interpreter)',
  operands: '<model.poly>',
  options: [
    ...MODEL_OPTIONS,
    stringOption('weights', '<file>', 'PyTorch checkpoint (.pt/.pth, torch.save zip) or .safetensors', {
      required: true,
    }),
    stringOption('input', '<file>', 'input images: .npy (float32/float64) or raw little-endian float32', {
      required: true,
    }),
    stringOption('input-shape', 'N,C,H,W', 'the shape of a raw float32 input'),
    outputOption('<file>', 'write the logits: .npy by extension, else raw float32'),
    stringOption('top', '<k>', 'how many classes to print per image (default 5)'),
    stringOption('backend', '<b>', 'interp (the reference interpreter, default) or webgpu (WGSL kernels)'),
    booleanOption('stats', 'with webgpu: print dispatches, submits, bytes moved and memory'),
  ],
  run: async (inv) => {
    const { io, command } = inv;
    const weightsPath = str(inv, 'weights');
    const inputPath = str(inv, 'input');
    if (!weightsPath || !inputPath) return usageError(io, command, 'both --weights and --input are required');
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
    const m = loadModel(inv, 'default');
    if (!m) return EXIT_USER;
    const weights = loadWeights(m.module, readBytes(weightsPath), weightsPath);
    const input = loadInput(m.module, readBytes(inputPath), inputPath, shape);
    let logits: Tensor | undefined;
    if (backend === 'webgpu') {
      const result = await runOnWebGpu(m.module, weights, input);
      logits = result.outputs[0];
      if (flag(inv, 'stats')) io.err(formatWebGpuStats(result));
    } else {
      [logits] = runModel(m.module, input, weights);
    }
    const out = str(inv, 'output');
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
  return dims.length > 0 && dims.every((d) => Number.isInteger(d) && d > 0) ? dims : undefined;
}
