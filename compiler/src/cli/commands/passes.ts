import { DEFAULT_PIPELINE } from '../../passes/pipeline.js';
import { PASSES } from '../../passes/registry.js';
import { type Command, EXIT_OK } from '../command.js';

export const passes: Command = {
  name: 'passes',
  summary: 'list the optimisation passes and the default pipeline',
  operands: '',
  options: [],
  run: ({ io }) => {
    const width = Math.max(...PASSES.map((p) => p.name.length));
    for (const p of PASSES) io.out(`${p.name.padEnd(width)}  ${p.summary}`);
    io.out('');
    io.out(`default pipeline: ${DEFAULT_PIPELINE.join(',')}`);
    return EXIT_OK;
  },
};
