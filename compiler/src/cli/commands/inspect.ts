import { toDot } from '../../inspect/dot.js';
import { inspectModel } from '../../inspect/extract.js';
import { inspectorHtml } from '../../inspect/page.js';
import { printModule } from '../../ir/print.js';
import { type Command, EXIT_OK, EXIT_USER, flag, type Invocation, str, usageError } from '../command.js';
import { checkOutput, fileHost, writeAtomic } from '../files.js';
import { serveInspector } from '../inspect-server.js';
import { loadModel, modelRequest, reportTiming } from '../model.js';
import { booleanOption, MODEL_OPTIONS, stringOption } from '../options.js';

/**
 * `polyc inspect`: the IR as text, or the inspector (an HTML page, its data as JSON, Graphviz),
 * or the page served with rebuilds on every change of the sources.
 */
export const inspect: Command = {
  name: 'inspect',
  summary: 'print the IR of a model, or write/serve the interactive inspector page',
  operands: '<model.poly>',
  options: [
    ...MODEL_OPTIONS,
    stringOption(
      'html',
      '<file>',
      'write the inspector: one self-contained HTML page (no network, no server)',
    ),
    stringOption('json', '<file>', "write the inspector's data as JSON (schema: docs/inspector.schema.json)"),
    stringOption('dot', '<file>', 'write the optimised graph for Graphviz, clustered by scope'),
    booleanOption('serve', 'serve the page on 127.0.0.1, rebuilt when the .poly files change'),
    stringOption('port', '<n>', 'with --serve: the port (default 8080; 0 picks a free one)'),
  ],
  run: async (inv) => {
    const outputs = { html: str(inv, 'html'), json: str(inv, 'json'), dot: str(inv, 'dot') };
    const serve = flag(inv, 'serve');
    const portText = str(inv, 'port');
    if (portText !== undefined && !serve) return usageError(inv.io, inv.command, '--port needs --serve');
    const port = Number(portText ?? '8080');
    if (!/^\d+$/.test(portText ?? '0') || port > 65535)
      return usageError(inv.io, inv.command, `--port must be a port number, got '${portText}'`);
    if (!serve && Object.values(outputs).every((o) => o === undefined)) return printIr(inv);
    for (const file of Object.values(outputs)) if (file) checkOutput(file, 'file');
    const request = modelRequest(inv, 'default');
    if (!request) return EXIT_USER;
    if (serve) {
      const server = await serveInspector(request, port, inv.io);
      await server.closed;
      return EXIT_OK;
    }
    const data = inspectModel(request, fileHost);
    for (const s of data.sources) inv.sources.set(s.file, s.text);
    if (!data.model) {
      inv.io.err(data.diagnostics.map((d) => d.rendered).join('\n\n'));
      return EXIT_USER;
    }
    reportTiming(
      inv,
      data.model.stages
        .slice(1)
        .map((s) => ({ pass: s.pass!, changed: s.changed, ms: s.ms, ops: s.opCount })),
    );
    if (outputs.json) writeAtomic(outputs.json, `${JSON.stringify(data)}\n`);
    if (outputs.dot) writeAtomic(outputs.dot, toDot(data.model));
    if (outputs.html) writeAtomic(outputs.html, await inspectorHtml(data));
    for (const [what, file] of Object.entries(outputs)) if (file) inv.io.out(`wrote ${file} (${what})`);
    return EXIT_OK;
  },
};

function printIr(inv: Invocation): number {
  const m = loadModel(inv);
  if (!m) return EXIT_USER;
  inv.io.out(printModule(m.module).trimEnd());
  return EXIT_OK;
}
