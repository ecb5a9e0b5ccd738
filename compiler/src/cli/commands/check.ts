import { costAnalysis } from '../../analysis/cost.js';
import { formatType } from '../../ir/shapes.js';
import { type Command, EXIT_OK } from '../command.js';
import { onModel } from '../model.js';
import { MODEL_OPTIONS } from '../options.js';

export const check: Command = {
  name: 'check',
  summary: 'parse and verify a model; print its parameters and FLOPs',
  operands: '<model.poly>',
  options: MODEL_OPTIONS,
  run: onModel((m, { io }) => {
    const c = m.context.get(costAnalysis, m.module);
    const input = m.module.ops.find((o) => o.op === 'input')!;
    const outs = m.module.outputs.map((id) => formatType(m.module.ops.find((o) => o.id === id)!.type));
    io.out(`model      ${m.module.name}`);
    io.out(
      `settings   ${Object.entries(m.settings)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
    io.out(`input      ${input.attrs.name}: ${formatType(input.type)}`);
    io.out(`output     ${outs.join(', ')}`);
    io.out(`params     ${c.params.toLocaleString('en-US')} (${(c.params / 1e6).toFixed(2)} M)`);
    if (c.buffers > 0)
      io.out(`buffers    ${c.buffers.toLocaleString('en-US')} (running statistics, not parameters)`);
    io.out(`FLOPs      ${(c.flops / 1e9).toFixed(3)} G per image (multiply-add = 2)`);
    io.out(`ops        ${m.module.ops.length}`);
    io.out('ok: the model verifies');
    return EXIT_OK;
  }),
};
