/**
 * `npm run bench:compile`: the time `polyc compile` takes, per phase, through the driver (the
 * front end, then the built compilePackage, as the CLI runs them, without writing the files).
 * Random weights (seed 0). Each compile runs in a fresh Node process, as on the command line, so
 * the numbers include a cold JIT and the peak resident memory is the compile's own; the report gives the median
 * of --runs compiles. Writes the "compile" section of docs/benchmarks.md.
 *
 *   npm run bench:compile -- [--models apolynext_l,cpolynext_t] [--runs 3] [--max-batch 8]
 *                            [--out docs/benchmarks.md] [--section compile]
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { CompilePhase } from '../compiler/src/driver/compile.js';
import { buildExampleModel, median, writeSection } from './report.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'apolynext_l,cpolynext_t' },
    runs: { type: 'string', default: '3' },
    'max-batch': { type: 'string', default: '8' },
    out: { type: 'string', default: 'docs/benchmarks.md' },
    section: { type: 'string', default: 'compile' },
    /** Internal: compile this one model and print its measurements as JSON. */
    child: { type: 'string' },
  },
});
const maxBatch = Number(values['max-batch']);

interface Measurement {
  readonly phases: readonly CompilePhase[];
  readonly totalMs: number;
  readonly peakRssMiB: number;
}

/**
 * The built compiler (dist/, as bin/polyc.js runs it: `npm run bench:compile` builds first), so
 * the package's runtime.d.ts comes from the build as in `polyc compile`, not generated from the
 * runtime's sources. The path is a variable: typechecking needs no build.
 */
const BUILT_DRIVER = '../dist/compiler/src/driver/compile.js';

async function measureOne(name: string): Promise<Measurement> {
  const { compilePackage } = (await import(
    BUILT_DRIVER
  )) as typeof import('../compiler/src/driver/compile.js');
  const t0 = performance.now();
  const model = buildExampleModel(name);
  const frontendMs = performance.now() - t0;
  const pkg = await compilePackage({
    module: model.module,
    checkpoint: null,
    packageName: name.replaceAll('_', '-'),
    maxBatch,
    source: `examples/${name}.poly`,
    settings: model.settings,
    polycVersion: 'bench',
  });
  return {
    phases: [{ name: 'frontend', ms: frontendMs }, ...pkg.phases],
    totalMs: performance.now() - t0,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

if (values.child !== undefined) {
  console.log(JSON.stringify(await measureOne(values.child)));
  process.exit(0);
}

/** One compile in a fresh process (this script with --child), as `polyc compile` runs. */
function measureInChild(name: string): Measurement {
  const script = fileURLToPath(import.meta.url);
  const r = spawnSync(
    process.execPath,
    [...process.execArgv, script, '--child', name, '--max-batch', String(maxBatch)],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (r.status !== 0) throw new Error(`compiling ${name} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Measurement;
}

/** What each phase does, and so what its time is proportional to. */
const PHASES: Readonly<Record<string, string>> = {
  frontend:
    'parsing the .poly file and elaborating it into IR (compile-time evaluation of configs and loops)',
  'random weights':
    'drawing every parameter from a seeded PRNG, then interpreting one random batch of two images to ' +
    'calibrate BatchNorm running statistics: proportional to parameters plus one reference inference',
  'import weights': 'reading the checkpoint (safe unpickler or safetensors) and matching its keys',
  analyses: 'cost and polynomial degree of the module as written (for the model card)',
  optimise: 'the default pass pipeline: folds, then fusions; each changing pass rebuilds the module',
  'webgpu plan':
    'choosing a kernel per step, rendering and deduplicating WGSL, placing activations in the arena',
  'pack weights':
    'evaluating every load-time constant the kernels read (folded and scaled weights) with the ' +
    'interpreter, packing them into one buffer and hashing it: proportional to weight bytes',
  'cpu kernels': 'one specialised loop nest per data-path op, deduplicated, and the CPU arena plan',
  typescript:
    'ts-morph prints the generated modules (for a large model the CPU and WebGPU modules are hundreds ' +
    'of KB of straight-line code); TypeScript parses each once to delete its type syntax (the ' +
    'JavaScript), index.d.ts comes from transpileDeclaration and runtime.d.ts from the build: ' +
    'proportional to the number of steps and loop nests, most of it the parser (cold in a fresh process)',
  'bundle runtime': 'esbuild bundling runtime/src and the package support code (constant per model)',
  'package files': 'model card, weights manifest and package.json',
};

const models = values.models.split(',');
const runs = Number(values.runs);
const results = new Map<string, Measurement[]>();
for (const name of models) {
  const list: Measurement[] = [];
  for (let i = 0; i < runs; i++) {
    list.push(measureInChild(name));
    console.log(`${name} run ${i + 1}: ${list.at(-1)!.totalMs.toFixed(0)} ms`);
  }
  results.set(name, list);
}

const phaseMs = (list: readonly Measurement[], phase: string) =>
  median(list.map((m) => m.phases.find((p) => p.name === phase)?.ms ?? 0));
const phaseNames = [
  ...new Set([...results.values()].flatMap((l) => l.flatMap((m) => m.phases.map((p) => p.name)))),
];
const rows = phaseNames.map((phase) => {
  const cells = models.map((name) => {
    const list = results.get(name)!;
    const ms = phaseMs(list, phase);
    return `${ms.toFixed(0)} (${((100 * ms) / median(list.map((m) => m.totalMs))).toFixed(0)}%)`;
  });
  return `| ${phase} | ${cells.join(' | ')} |`;
});
const totals = models.map((name) => median(results.get(name)!.map((m) => m.totalMs)).toFixed(0));
const peaks = models.map((name) => median(results.get(name)!.map((m) => m.peakRssMiB)).toFixed(0));
const first = results.get(models[0]!)!;
const largest = [...phaseNames].sort((a, b) => phaseMs(first, b) - phaseMs(first, a)).slice(0, 4);

const report = `## Compile time: \`polyc compile\`

Generated by \`npm run bench:compile -- --models ${values.models} --runs ${runs} --max-batch ${maxBatch}\`
on ${new Date().toISOString().slice(0, 10)}.

- Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 20).toFixed(0)} MiB RAM, Node ${process.version}.
- Each compile runs in a fresh Node process through the driver (front end, then the built
  \`compilePackage\` from dist/, with random weights, seed 0, and the default pipeline), as
  \`polyc compile\` does, but without loading the CLI or writing the files. Times are wall-clock
  medians of ${runs} compiles in ms (share of the total); peak RSS is the process's high-water mark. A
  shared machine makes single numbers noisy: compare phases within a run.

| phase | ${models.join(' | ')} |
|---|${models.map(() => '---|').join('')}
${rows.join('\n')}
| **total** | ${totals.join(' | ')} |
| peak RSS MiB | ${peaks.join(' | ')} |

Where the time goes (largest phases of ${models[0]} first):

${largest.map((p) => `- **${p}**: ${PHASES[p] ?? 'see compiler/src/driver/compile.ts'}.`).join('\n')}
`;
writeSection(values.out, values.section, report);
console.log(report);
