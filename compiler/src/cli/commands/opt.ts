import { optimizeText } from '../../driver/opt.js';
import { type Command, EXIT_OK, EXIT_USER, flag, onlyOperand, str } from '../command.js';
import { checkOutput, readTextOrFail, writeAtomic } from '../files.js';
import { pipelineOptions, reportTiming } from '../model.js';
import { booleanOption, outputOption, PIPELINE_OPTIONS } from '../options.js';

/** Like mlir-opt: textual IR in, passes, textual IR out; with no `--passes`, a round trip. */
export const opt: Command = {
  name: 'opt',
  summary: 'run passes over textual IR (a file `polyc inspect` printed) and print the result',
  operands: '<file.ir>',
  options: [
    ...PIPELINE_OPTIONS,
    booleanOption('strip-locations', 'print the IR without `loc(...)` and `scope`'),
    outputOption('<file>', 'write the IR to this file instead of stdout'),
  ],
  run: (inv) => {
    const file = onlyOperand(inv, 'IR file');
    if (file === null) return EXIT_USER;
    const out = str(inv, 'output');
    if (out !== undefined) checkOutput(out, 'file');
    const text = readTextOrFail(file);
    // Read and verification errors point into this text.
    inv.sources.set(file, text);
    const result = optimizeText(text, file, {
      ...pipelineOptions(inv, 'none'),
      locations: !flag(inv, 'strip-locations'),
    });
    reportTiming(inv, result.records);
    if (out === undefined) inv.io.out(result.text.trimEnd());
    else writeAtomic(out, result.text);
    return EXIT_OK;
  },
};
