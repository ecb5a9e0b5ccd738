import { checkOpset, exportOnnx, ONNX_OPSETS } from '../../codegen/onnx/export.js';
import { loadWeights, syntheticWeights } from '../../driver/run.js';
import { type Command, EXIT_OK, EXIT_USER, str, usageError, VERSION } from '../command.js';
import { checkOutput, maxFileBytes, readBytes, writeAtomic } from '../files.js';
import { loadModel } from '../model.js';
import {
  MAX_FILE_SIZE_OPTION,
  MODEL_OPTIONS,
  optionalWeightsOption,
  outputOption,
  stringOption,
} from '../options.js';

export const exportOnnxCommand: Command = {
  name: 'export-onnx',
  summary: 'export a model to ONNX (standard operators, dynamic batch, weights as initializers)',
  operands: '<model.poly>',
  options: [
    ...MODEL_OPTIONS,
    optionalWeightsOption('embed'),
    outputOption('<model.onnx>', 'the .onnx file to write', true),
    stringOption(
      'opset',
      '<n>',
      `ONNX opset, ${ONNX_OPSETS.min} to ${ONNX_OPSETS.max} (default ${ONNX_OPSETS.default})`,
    ),
    MAX_FILE_SIZE_OPTION,
  ],
  run: (inv) => {
    const { io, command } = inv;
    const out = str(inv, 'output');
    if (!out) return usageError(io, command, 'the output file is required: -o <model.onnx>');
    const opsetText = str(inv, 'opset') ?? String(ONNX_OPSETS.default);
    if (!/^\d+$/.test(opsetText))
      return usageError(io, command, `--opset must be an integer, got '${opsetText}'`);
    const opset = Number(opsetText);
    checkOpset(opset);
    const maxBytes = maxFileBytes(inv);
    if (maxBytes === null) return EXIT_USER;
    checkOutput(out, 'file');
    const m = loadModel(inv);
    if (!m) return EXIT_USER;
    const weightsPath = str(inv, 'weights');
    let weights: Map<string, Float32Array>;
    if (weightsPath) {
      weights = loadWeights(m.module, readBytes(weightsPath, maxBytes), weightsPath);
    } else {
      io.err(
        'warning: no --weights given: exporting deterministic random weights (seed 0), not a trained model',
      );
      weights = syntheticWeights(m.module);
    }
    const bytes = exportOnnx(m.module, weights, {
      opset,
      docString: `polyc ${VERSION}: ${inv.positionals[0]}`,
    });
    writeAtomic(out, bytes);
    io.out(
      `wrote ${out}: ONNX opset ${opset}, ${(bytes.length / 1e6).toFixed(2)} MB, input batch dimension 'batch'`,
    );
    return EXIT_OK;
  },
};
