import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { ALL, GENERATORS, type GeneratorName } from './generators.js';
import { runCampaign } from './pool.js';
import { renderReport, writeReproducers } from './report.js';

/**
 * `npm run fuzz -- --cases 100000 [--target poly|ir|npy|ckpt|work|amplifier|all] [--seed N]
 * [--timeout 10000] [--workers N] [--heap 512] [--rss 1024] [--out report.md]`: the full fuzz
 * campaign (docs/reliability.md). Writes the markdown report and, next to it, a folder of
 * reproducer files for every failure, hang and memory verdict. Exit 1 when there is any.
 */

const USAGE = `usage: npm run fuzz -- [--cases N] [--target ${Object.keys(GENERATORS).join('|')}|all (comma-separated)]
                       [--seed N] [--timeout ms] [--workers N] [--heap MiB] [--rss MiB] [--out report.md]`;

let parsed: ReturnType<typeof parse>;
try {
  parsed = parse();
} catch (e) {
  console.error(`${(e as Error).message}\n${USAGE}`);
  process.exit(1);
}
if (parsed.values.help) {
  console.log(USAGE);
  process.exit(0);
}
const { values } = parsed;

function parse() {
  return parseArgs({
    options: {
      help: { type: 'boolean', short: 'h' },
      cases: { type: 'string', default: '1000' },
      target: { type: 'string', default: 'all' },
      seed: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '10000' },
      workers: { type: 'string' },
      heap: { type: 'string', default: '512' },
      rss: { type: 'string', default: '1024' },
      out: { type: 'string', default: 'fuzz-report/report.md' },
    },
    strict: true,
  });
}

const int = (name: string, text: string | undefined): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got '${text}'`);
    process.exit(1);
  }
  return n;
};

const targets: GeneratorName[] =
  values.target === 'all'
    ? [...ALL]
    : values.target!.split(',').map((t) => {
        if (!(t in GENERATORS)) {
          console.error(`unknown --target '${t}': one of ${Object.keys(GENERATORS).join(', ')}, all`);
          process.exit(1);
        }
        return t as GeneratorName;
      });

const options = {
  generators: targets,
  cases: int('cases', values.cases),
  seed: int('seed', values.seed),
  timeoutMs: int('timeout', values.timeout),
  heapMb: int('heap', values.heap),
  rssMb: int('rss', values.rss),
  ...(values.workers === undefined ? {} : { workers: int('workers', values.workers) }),
  progress: (done: number, total: number) => process.stderr.write(`\r${done}/${total} cases`),
};
const command = `npm run fuzz -- ${process.argv.slice(2).join(' ')}`.trim();
const result = await runCampaign(options);
process.stderr.write('\n');
const out = values.out!;
const reproDir = join(dirname(out), 'repro');
const commands = writeReproducers(result, reproDir);
mkdirSync(dirname(out), { recursive: true });
const report = renderReport(result, commands, command);
writeFileSync(out, report);
console.log(report.split('\n## ')[0]);
console.log(`report: ${out}${commands.size > 0 ? `, reproducers: ${reproDir}/` : ''}`);
process.exit(result.records.some((r) => !['ok', 'diagnostic'].includes(r.verdict.kind)) ? 1 : 0);
