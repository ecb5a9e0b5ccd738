import { printModule } from '../../ir/print.js';
import { type Command, EXIT_OK } from '../command.js';
import { onModel } from '../model.js';
import { MODEL_OPTIONS } from '../options.js';

export const inspect: Command = {
  name: 'inspect',
  summary: 'print the IR of a model',
  operands: '<model.poly>',
  options: MODEL_OPTIONS,
  run: onModel((m, inv) => {
    inv.io.out(printModule(m.module).trimEnd());
    return EXIT_OK;
  }),
};
