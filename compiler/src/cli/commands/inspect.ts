import { printModule } from '../../ir/print.js';
import { type Command, EXIT_OK, EXIT_USER } from '../command.js';
import { loadModel } from '../model.js';
import { MODEL_OPTIONS } from '../options.js';

export const inspect: Command = {
  name: 'inspect',
  summary: 'print the IR of a model',
  operands: '<model.poly>',
  options: MODEL_OPTIONS,
  run: (inv) => {
    const m = loadModel(inv);
    if (!m) return EXIT_USER;
    inv.io.out(printModule(m.module).trimEnd());
    return EXIT_OK;
  },
};
