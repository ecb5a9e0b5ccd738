import { degreeReport, formatDegreeReport } from '../../analysis/degree.js';
import { type Command, EXIT_OK, EXIT_USER, flag } from '../command.js';
import { loadModel } from '../model.js';
import { booleanOption, MODEL_OPTIONS } from '../options.js';

export const degree: Command = {
  name: 'degree',
  summary: 'polynomial degree, non-polynomial barriers and multiplicative depth of a model',
  operands: '<model.poly>',
  options: [...MODEL_OPTIONS, booleanOption('json', 'print the report as JSON (degrees as decimal strings)')],
  run: (inv) => {
    const m = loadModel(inv);
    if (!m) return EXIT_USER;
    const report = degreeReport(m.module, m.context);
    inv.io.out(flag(inv, 'json') ? JSON.stringify(report, null, 2) : formatDegreeReport(report));
    return EXIT_OK;
  },
};
