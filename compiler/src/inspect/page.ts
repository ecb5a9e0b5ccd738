import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InspectorData } from '../../inspector/data.js';
import { InternalError } from '../diagnostics/diagnostic.js';

/**
 * The inspector page: compiler/inspector/main.ts and the libraries it imports (elkjs, Prism) bundled
 * by esbuild into one script (elkjs's worker script as a string, see compiler/inspector/elk.ts), inlined with its style and the data into one HTML file that needs
 * no network and no server. Works from the sources (main.ts) and from the build (dist: main.js),
 * as codegen/package/bundle.ts does for the runtime.
 */

const here = dirname(fileURLToPath(import.meta.url));
const INSPECTOR_SRC = resolve(here, '../../inspector');

const require = createRequire(import.meta.url);

/** What the page bundles, with the licenses (elkjs's files carry no notice of their own). */
function notice(): string {
  const version = (name: string) => (require(`${name}/package.json`) as { version: string }).version;
  return `This page bundles elkjs ${version('elkjs')} (EPL-2.0, https://github.com/kieler/elkjs) and Prism ${version('prismjs')} (MIT, https://prismjs.com).`;
}

let bundled: Promise<string> | undefined;

/** The page script, bundled once per process (`--serve` rebuilds only the data). */
export function pageScript(): Promise<string> {
  bundled ??= (async () => {
    const entry = ['main.ts', 'main.js'].map((f) => resolve(INSPECTOR_SRC, f)).find((f) => existsSync(f));
    if (!entry) throw new InternalError(`no inspector page entry in ${INSPECTOR_SRC}`);
    const { build } = await import('esbuild');
    const elkWorker = require.resolve('elkjs/lib/elk-worker.min.js');
    const result = await build({
      absWorkingDir: here,
      entryPoints: [entry],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      write: false,
      // Prism's license comment stays; elkjs's files have none (the page's notice names both).
      legalComments: 'eof',
      logLevel: 'silent',
      plugins: [
        {
          // elkjs's worker script, as text: the page starts its Web Worker from it (compiler/inspector/elk.ts).
          name: 'elk-worker',
          setup(b) {
            b.onResolve({ filter: /^polyc:elk-worker$/ }, () => ({ path: elkWorker }));
            b.onLoad({ filter: /elk-worker\.min\.js$/ }, () => ({
              contents: readFileSync(elkWorker, 'utf8'),
              loader: 'text',
            }));
          },
        },
      ],
    });
    const file = result.outputFiles?.[0];
    if (!file) throw new InternalError('esbuild produced no inspector bundle');
    return file.text;
  })();
  return bundled;
}

/** JSON or script text that cannot close the <script> element it sits in. */
const inScript = (text: string): string => text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

/**
 * The whole page. `live`: served by `polyc inspect --serve`, the page polls `data.json` and
 * redraws when the sources change.
 */
export async function inspectorHtml(data: InspectorData, live = false): Promise<string> {
  const script = await pageScript();
  const title = data.model ? `${data.model.name}: polyc inspect` : 'polyc inspect';
  // JSON.stringify escapes no '<'; \u003c keeps "</script>" in a source text from ending the element.
  const json = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');
  // Each stage's ops in an element of its own, parsed when the page first needs them; the main
  // data keeps `ops: []` there (data-stages lists them), as `null` still means "as the stage before".
  const stages = data.model?.stages ?? [];
  const split = stages.flatMap((s, i) => (s.ops ? [i] : []));
  const main: InspectorData = data.model
    ? { ...data, model: { ...data.model, stages: stages.map((s) => (s.ops ? { ...s, ops: [] } : s)) } }
    : data;
  return [
    '<!doctype html>',
    `<!-- polyc inspect. ${notice()} -->`,
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${title.replace(/[<&]/g, '')}</title>`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // Before the data: the script starts ELK's worker while the browser reads the data.
    `<script>${inScript(script)}</script>`,
    '</head><body>',
    `<script id="polyc-data" type="application/json" data-live="${live}" data-stages="${split.join(',')}">${json(main)}</script>`,
    ...split.map(
      (i) => `<script id="polyc-stage-${i}" type="application/json">${json(stages[i]!.ops)}</script>`,
    ),
    '</body></html>',
  ].join('\n');
}
