import { formatTuneTable, tuneModule } from '../../driver/tune.js';
import {
  emptyTuneCache,
  formatTuneCache,
  mergeTuneCache,
  parseTuneCache,
  type TuneEntry,
} from '../../driver/tune-cache.js';
import { type Command, EXIT_OK, EXIT_USER, str, usageError } from '../command.js';
import { checkOutput, readText, writeAtomic } from '../files.js';
import { loadModel } from '../model.js';
import { MODEL_OPTIONS, stringOption } from '../options.js';

const DEFAULT_CACHE = 'polyc-tune.json';

export const tune: Command = {
  name: 'tune',
  summary:
    "time every kernel's variants on this machine's WebGPU adapter and cache the fastest (see docs/tune.md)",
  operands: '<model.poly>',
  options: [
    ...MODEL_OPTIONS,
    stringOption(
      'cache',
      '<file>',
      `the JSON tune cache to write; an existing one is merged, keeping other adapters and kernels (default ${DEFAULT_CACHE})`,
    ),
    stringOption('batch', '<n>', 'the batch the kernels are timed at (default 1)'),
    stringOption(
      'runs',
      '<n>',
      'timed repeats per variant, after one warm-up; the median counts (default 5)',
    ),
    stringOption(
      'budget-s',
      '<seconds>',
      'start no new kernel after this many seconds; kernels are tuned most expensive first (default 600)',
    ),
  ],
  run: async (inv) => {
    const { io, command } = inv;
    const count = (name: string, fallback: string, max: number): number | null => {
      const text = str(inv, name) ?? fallback;
      const n = Number(text);
      if (/^\d+$/.test(text) && n >= 1 && n <= max) return n;
      usageError(io, command, `--${name} must be an integer from 1 to ${max}, got '${text}'`);
      return null;
    };
    const batch = count('batch', '1', 4096);
    const runs = count('runs', '5', 1000);
    const budget = count('budget-s', '600', 7 * 24 * 3600);
    if (batch === null || runs === null || budget === null) return EXIT_USER;
    const file = str(inv, 'cache') ?? DEFAULT_CACHE;
    // Read (and checked) before the long part, so a corrupt cache or an unwritable path fails at once.
    checkOutput(file, 'file');
    const existing = readText(file);
    const cache = existing === null ? emptyTuneCache() : parseTuneCache(existing, file);
    const m = loadModel(inv, 'default');
    if (!m) return EXIT_USER;
    const report = await tuneModule(m.module, {
      batch,
      runs,
      budgetMs: budget * 1000,
      ctx: m.context,
      progress: (line) => io.err(line),
    });
    io.err(`adapter: ${report.adapterInfo}; timing: ${report.timing ?? 'none'}`);
    const entries = Object.fromEntries(
      report.tuned.map((t) => [t.signature, t.entry] as [string, TuneEntry]),
    );
    writeAtomic(file, formatTuneCache(mergeTuneCache(cache, report.adapterKey, entries)));
    io.out(formatTuneTable(report));
    io.out(`wrote ${file}: ${report.tuned.length} choice(s) for adapter '${report.adapterKey}'`);
    return EXIT_OK;
  },
};
