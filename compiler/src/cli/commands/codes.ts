import { listCodes } from '../../diagnostics/render.js';
import { type Command, EXIT_OK } from '../command.js';

export const codes: Command = {
  name: 'codes',
  summary: 'list every diagnostic code',
  operands: '',
  options: [],
  run: ({ io }) => {
    for (const line of listCodes()) io.out(line);
    return EXIT_OK;
  },
};
