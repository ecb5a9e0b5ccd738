import { degreeReport, formatDegreeReport } from '../../analysis/degree.js';
import { type Command, EXIT_OK, flag } from '../command.js';
import { onModel } from '../model.js';
import { booleanOption, MODEL_OPTIONS } from '../options.js';

export const degree: Command = {
  name: 'degree',
  summary: 'polynomial degree, non-polynomial barriers and multiplicative depth of a model',
  operands: '<model.poly>',
  options: [...MODEL_OPTIONS, booleanOption('json', 'print the report as JSON (degrees as decimal strings)')],
  run: onModel((m, inv) => {
    const report = degreeReport(m.module, m.context);
    inv.io.out(flag(inv, 'json') ? JSON.stringify(report, null, 2) : formatDegreeReport(report));
    return EXIT_OK;
  }),
};
