import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { RuntimeError } from '../../../runtime/src/index.js';
import { cost } from '../analysis/cost.js';
import { degreeReport, formatDegreeReport } from '../analysis/degree.js';
import { checkOpset, exportOnnx, ONNX_OPSETS } from '../codegen/onnx/export.js';
import { defaultPackageName, invalidPackageName } from '../codegen/package/manifest.js';
import { CODES } from '../diagnostics/codes.js';
import { type Diagnostic, DiagnosticError, error } from '../diagnostics/diagnostic.js';
import { renderDiagnostics } from '../diagnostics/render.js';
import { buildModel, type FrontendResult } from '../driver/frontend.js';
import { writeF32, writeNpy } from '../driver/npy.js';
import { loadInput, loadWeights, runModel, syntheticWeights, topk } from '../driver/run.js';
import { formatWebGpuStats, runOnWebGpu } from '../driver/webgpu.js';
import type { Tensor } from '../ir/interpret.js';
import { printModule } from '../ir/print.js';
import { formatType } from '../ir/shapes.js';
import type { Module } from '../ir/types.js';
import { formatTiming, runPasses } from '../passes/manager.js';
import { PassContext } from '../passes/pass.js';
import { DEFAULT_PIPELINE, parsePipeline } from '../passes/pipeline.js';
import { PASSES } from '../passes/registry.js';

/**
 * The `polyc` command line: the only code that touches files, processes and the terminal.
 * Exit codes: 0 success, 1 user error (bad input, with diagnostics), 2 internal compiler error.
 */

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const nodeIo: CliIo = {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
};

export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_INTERNAL = 2;

const VERSION = '0.1.0';

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;
  readonly help: string;
  run(args: Parsed, io: CliIo): number | Promise<number>;
}

interface Parsed {
  /** The command being run, for usage messages. */
  readonly command: string;
  readonly positionals: string[];
  readonly values: Record<string, string | boolean | string[] | undefined>;
}

const SET_HELP = [
  '  --set name=value     override a model setting (repeatable), e.g. --set image_size=96',
  '  --model <name>       the model to build when the file declares several',
].join('\n');

/** Options of every command that builds a model from a .poly file. */
const MODEL_OPTIONS = {
  set: { type: 'string', multiple: true },
  model: { type: 'string' },
  passes: { type: 'string' },
  'print-ir-after': { type: 'string' },
  'verify-each': { type: 'boolean' },
  timing: { type: 'boolean' },
} as const;

const PIPELINE_HELP = [
  '  --passes <list>      optimisation pipeline: pass names separated by commas, `default` or `none`',
  '                       (see `polyc passes`)',
  '  --print-ir-after <p> print the IR after pass p (comma-separated), `all` passes, or those `changed`',
  '  --verify-each        verify the IR after every pass',
  '  --timing             print the time each pass took',
].join('\n');

const COMMANDS: Record<string, Command> = {
  check: {
    summary: 'parse and verify a model; print its parameters and FLOPs',
    usage: 'polyc check <model.poly> [--set k=v]...',
    options: MODEL_OPTIONS,
    help: `${SET_HELP}\n${PIPELINE_HELP}`,
    run: (a, io) => {
      const m = frontend(a, io);
      if (!m) return EXIT_USER;
      const c = cost(m.module);
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
    },
  },
  inspect: {
    summary: 'print the IR of a model',
    usage: 'polyc inspect <model.poly> [--set k=v]...',
    options: MODEL_OPTIONS,
    help: `${SET_HELP}\n${PIPELINE_HELP}`,
    run: (a, io) => {
      const m = frontend(a, io);
      if (!m) return EXIT_USER;
      io.out(printModule(m.module).trimEnd());
      return EXIT_OK;
    },
  },
  degree: {
    summary: 'polynomial degree, non-polynomial barriers and multiplicative depth of a model',
    usage: 'polyc degree <model.poly> [--set k=v]... [--passes=...] [--json]',
    options: { ...MODEL_OPTIONS, json: { type: 'boolean' } },
    help: `${SET_HELP}\n${PIPELINE_HELP}\n  --json               print the report as JSON (degrees as decimal strings)`,
    run: (a, io) => {
      const m = frontend(a, io);
      if (!m) return EXIT_USER;
      const report = degreeReport(m.module, new PassContext());
      io.out(a.values.json === true ? JSON.stringify(report, null, 2) : formatDegreeReport(report));
      return EXIT_OK;
    },
  },
  run: {
    summary: 'run a model with checkpoint weights on an input (reference interpreter)',
    usage:
      'polyc run <model.poly> [--set k=v]... --weights <ckpt> --input <file> [--input-shape N,C,H,W] [--output <file>]',
    options: {
      ...MODEL_OPTIONS,
      weights: { type: 'string' },
      input: { type: 'string' },
      'input-shape': { type: 'string' },
      output: { type: 'string', short: 'o' },
      top: { type: 'string' },
      backend: { type: 'string' },
      stats: { type: 'boolean' },
    },
    help: [
      SET_HELP,
      PIPELINE_HELP,
      '  --weights <file>     PyTorch checkpoint (.pt/.pth, torch.save zip) or .safetensors',
      '  --input <file>       input images: .npy (float32/float64) or raw little-endian float32',
      '  --input-shape N,C,H,W  shape of a raw float32 input',
      '  --output, -o <file>  write the logits: .npy by extension, else raw float32',
      '  --top <k>            how many classes to print per image (default 5)',
      '  --backend <b>        interp (the reference interpreter, default) or webgpu (WGSL kernels)',
      '  --stats              with webgpu: print dispatches, submits, bytes moved and memory',
    ].join('\n'),
    run: async (a, io) => {
      const weightsPath = str(a, 'weights');
      const inputPath = str(a, 'input');
      if (!weightsPath || !inputPath) return usageError(io, 'run', 'both --weights and --input are required');
      const shapeText = str(a, 'input-shape');
      const shape = shapeText === undefined ? null : parseShape(shapeText);
      if (shape === undefined)
        return usageError(io, 'run', `--input-shape must look like 2,3,64,64, got '${shapeText}'`);
      const topText = str(a, 'top') ?? '5';
      const k = Number(topText);
      if (!Number.isInteger(k) || k < 1)
        return usageError(io, 'run', `--top must be a positive integer, got '${topText}'`);
      const m = frontend(a, io, 'default');
      if (!m) return EXIT_USER;
      const weightBytes = readBytes(weightsPath);
      const inputBytes = readBytes(inputPath);
      const weights = loadWeights(m.module, weightBytes, weightsPath);
      const input = loadInput(m.module, inputBytes, inputPath, shape);
      const backend = str(a, 'backend') ?? 'interp';
      if (backend !== 'interp' && backend !== 'webgpu') {
        return usageError(io, 'run', `--backend must be interp or webgpu, got '${backend}'`);
      }
      let logits: Tensor | undefined;
      if (backend === 'webgpu') {
        const result = await runOnWebGpu(m.module, weights, input);
        logits = result.outputs[0];
        if (a.values.stats === true) io.err(formatWebGpuStats(result));
      } else {
        [logits] = runModel(m.module, input, weights);
      }
      const out = str(a, 'output');
      if (out) {
        writeAtomic(
          out,
          out.endsWith('.npy') ? writeNpy(logits!.shape, logits!.data) : writeF32(logits!.data),
        );
        io.out(
          `wrote ${out}: f32[${logits!.shape.join(',')}]${out.endsWith('.npy') ? ' (.npy)' : ' (raw little-endian float32)'}`,
        );
      }
      topk(logits!, Math.min(k, logits!.shape[1] ?? k)).forEach((row, b) => {
        io.out(`image ${b}: ${row.map((e) => `${e.index} (${e.value.toFixed(4)})`).join('  ')}`);
      });
      return EXIT_OK;
    },
  },
  'export-onnx': {
    summary: 'export a model to ONNX (standard operators, dynamic batch, weights as initializers)',
    usage: 'polyc export-onnx <model.poly> [--set k=v]... [--weights <ckpt>] -o <model.onnx> [--opset 17]',
    options: {
      ...MODEL_OPTIONS,
      weights: { type: 'string' },
      output: { type: 'string', short: 'o' },
      opset: { type: 'string' },
    },
    help: [
      SET_HELP,
      PIPELINE_HELP,
      '  --weights <file>     checkpoint to embed; without it, deterministic random weights (seed 0)',
      '  --output, -o <file>  the .onnx file to write',
      `  --opset <n>          ONNX opset, ${ONNX_OPSETS.min} to ${ONNX_OPSETS.max} (default ${ONNX_OPSETS.default})`,
    ].join('\n'),
    run: (a, io) => {
      const out = str(a, 'output');
      if (!out) return usageError(io, 'export-onnx', 'the output file is required: -o <model.onnx>');
      const opsetText = str(a, 'opset') ?? String(ONNX_OPSETS.default);
      const opset = Number(opsetText);
      if (!/^\d+$/.test(opsetText))
        return usageError(io, 'export-onnx', `--opset must be an integer, got '${opsetText}'`);
      checkOpset(opset);
      const m = frontend(a, io);
      if (!m) return EXIT_USER;
      const weightsPath = str(a, 'weights');
      let weights: Map<string, Float32Array>;
      if (weightsPath) {
        weights = loadWeights(m.module, readBytes(weightsPath), weightsPath);
      } else {
        io.err(
          'warning: no --weights given: exporting deterministic random weights (seed 0), not a trained model',
        );
        weights = syntheticWeights(m.module);
      }
      const bytes = exportOnnx(m.module, weights, {
        opset,
        docString: `polyc ${VERSION}: ${a.positionals[0]}`,
      });
      writeAtomic(out, bytes);
      io.out(
        `wrote ${out}: ONNX opset ${opset}, ${(bytes.length / 1e6).toFixed(2)} MB, input batch dimension 'batch'`,
      );
      return EXIT_OK;
    },
  },
  compile: {
    summary: 'compile a model into a self-contained npm package (WebGPU and CPU kernels, typed API, weights)',
    usage:
      'polyc compile <model.poly> [--set k=v]... [--weights <ckpt>] -o <dir> [--name <npm-name>] [--max-batch N]',
    options: {
      ...MODEL_OPTIONS,
      weights: { type: 'string' },
      output: { type: 'string', short: 'o' },
      name: { type: 'string' },
      'max-batch': { type: 'string' },
    },
    help: [
      SET_HELP,
      PIPELINE_HELP,
      '  --weights <file>     checkpoint to package; without it, deterministic random weights (seed 0)',
      '  --output, -o <dir>   the package directory to write (replaced if it holds an earlier package)',
      '  --name <npm-name>    the package name (default: the model name, e.g. cpolynext-lr)',
      '  --max-batch <n>      the largest batch the package runs (default 8)',
    ].join('\n'),
    run: async (a, io) => {
      const out = str(a, 'output');
      if (!out) return usageError(io, 'compile', 'the output directory is required: -o <dir>');
      const batchText = str(a, 'max-batch') ?? '8';
      const maxBatch = Number(batchText);
      if (!/^\d+$/.test(batchText) || maxBatch < 1 || maxBatch > 4096) {
        return usageError(io, 'compile', `--max-batch must be an integer from 1 to 4096, got '${batchText}'`);
      }
      checkPackageDir(out);
      const started = Date.now();
      const progress = (message: string) =>
        io.err(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${message}`);
      // Built as written: the pipeline runs inside compile, after the cost and degree analyses.
      const m = frontend({ ...a, values: { ...a.values, passes: 'none' } }, io);
      if (!m) return EXIT_USER;
      const name = str(a, 'name') ?? defaultPackageName(m.module.name);
      const bad = invalidPackageName(name);
      if (bad) return usageError(io, 'compile', `--name '${name}' is not a valid npm package name: ${bad}`);
      const weightsPath = str(a, 'weights');
      if (!weightsPath) {
        io.err(
          'warning: no --weights given: the package gets deterministic random weights (seed 0), not a trained model (its README says so)',
        );
      }
      const checkpoint = weightsPath ? { file: weightsPath, bytes: readBytes(weightsPath) } : null;
      const { compilePackage } = await import('../driver/compile.js');
      const pkg = await compilePackage({
        module: m.module,
        checkpoint,
        packageName: name,
        maxBatch,
        source: a.positionals[0]!,
        settings: Object.fromEntries(Object.entries(m.settings).map(([k, v]) => [k, String(v)])),
        polycVersion: VERSION,
        pipeline: parsePipeline(str(a, 'passes') ?? 'default'),
        progress,
      });
      progress(`writing ${pkg.files.size} files`);
      writeDirAtomic(out, pkg.files);
      const s = pkg.summary;
      io.out(
        `wrote ${out}: npm package '${name}', ${s.dispatches} WebGPU dispatches, ${s.cpuLoopNests} CPU loop nests, ` +
          `weights ${(s.weightBytes / 1e6).toFixed(2)} MB${s.synthetic ? ' (RANDOM, not trained)' : ''}`,
      );
      return EXIT_OK;
    },
  },
  passes: {
    summary: 'list the optimisation passes and the default pipeline',
    usage: 'polyc passes',
    options: {},
    help: '',
    run: (_a, io) => {
      const width = Math.max(...PASSES.map((p) => p.name.length));
      for (const p of PASSES) io.out(`${p.name.padEnd(width)}  ${p.summary}`);
      io.out('');
      io.out(`default pipeline: ${DEFAULT_PIPELINE.join(',')}`);
      return EXIT_OK;
    },
  },
  codes: {
    summary: 'list every diagnostic code',
    usage: 'polyc codes',
    options: {},
    help: '',
    run: (_a, io) => {
      for (const [code, summary] of Object.entries(CODES)) io.out(`${code}  ${summary}`);
      return EXIT_OK;
    },
  },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    `polyc ${VERSION}: a compiler for activation-free polynomial vision networks`,
    '',
    'usage: polyc <command> [options]    (polyc <command> --help for details)',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'exit codes: 0 ok, 1 user error (diagnostics on stderr), 2 internal compiler error',
  ].join('\n');
}

function commandHelp(name: string, c: Command): string {
  return [
    `polyc ${name}: ${c.summary}`,
    '',
    `usage: ${c.usage}`,
    '',
    'options:',
    c.help,
    '  --help               show this help',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

export async function runCli(argv: readonly string[], io: CliIo = nodeIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(mainHelp());
    return name === undefined ? EXIT_USER : EXIT_OK;
  }
  if (name === '--version') {
    io.out(VERSION);
    return EXIT_OK;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(renderDiagnostics([error('E0701', `unknown command '${name}'`)], new Map()));
    io.err(mainHelp());
    return EXIT_USER;
  }
  let parsed: Parsed;
  try {
    const { positionals, values } = parseArgs({
      args: [...rest],
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    parsed = { command: name, positionals, values: values as Parsed['values'] };
  } catch (e) {
    return usageError(io, name, (e as Error).message);
  }
  if (parsed.values.help) {
    io.out(commandHelp(name, command));
    return EXIT_OK;
  }
  try {
    return await command.run(parsed, io);
  } catch (e) {
    if (e instanceof DiagnosticError) {
      io.err(renderDiagnostics(e.diagnostics, lastSources));
      return EXIT_USER;
    }
    if (e instanceof RuntimeError) {
      io.err(renderDiagnostics([error('E0706', `WebGPU: ${e.message}`)], new Map()));
      return EXIT_USER;
    }
    io.err(`internal compiler error: ${(e as Error).stack ?? String(e)}`);
    io.err('this is a bug in polyc; please report it with the command you ran');
    return EXIT_INTERNAL;
  }
}

function usageError(io: CliIo, name: string, message: string): number {
  io.err(renderDiagnostics([error('E0701', message)], new Map()));
  io.err(`usage: ${COMMANDS[name]!.usage}`);
  return EXIT_USER;
}

/** Sources of the last front-end run, so that diagnostics thrown later can still show lines. */
let lastSources: ReadonlyMap<string, string> = new Map();

/**
 * Builds the model named on the command line and runs the optimisation pipeline chosen by
 * `--passes` (or `defaultPasses`).
 */
function frontend(
  a: Parsed,
  io: CliIo,
  defaultPasses = 'none',
): { module: Module; settings: Record<string, unknown> } | null {
  if (a.positionals.length !== 1) {
    usageError(
      io,
      a.command,
      `expected one model file, got ${a.positionals.length === 0 ? 'none' : a.positionals.join(' ')}`,
    );
    return null;
  }
  const file = a.positionals[0]!;
  const settings: Record<string, string> = {};
  for (const s of (a.values.set as string[] | undefined) ?? []) {
    const eq = s.indexOf('=');
    if (eq <= 0) {
      usageError(io, a.command, `--set expects name=value, got '${s}'`);
      return null;
    }
    settings[s.slice(0, eq).trim()] = s.slice(eq + 1).trim();
  }
  const modelName = str(a, 'model');
  const result: FrontendResult = buildModel(file, { readFile: readText }, settings, modelName);
  lastSources = result.sources;
  if (!result.model) {
    io.err(renderDiagnostics(result.diagnostics, result.sources));
    return null;
  }
  const passes = parsePipeline(str(a, 'passes') ?? defaultPasses);
  const after = str(a, 'print-ir-after');
  const { module, records } = runPasses(result.model.module, passes, {
    verifyEach: a.values['verify-each'] === true,
    ...(after === undefined
      ? {}
      : {
          printIrAfter:
            after === 'all' || after === 'changed' ? after : after.split(',').map((x) => x.trim()),
        }),
    dump: (pass, ir) => io.err(`// ----- IR after ${pass} -----\n${ir.trimEnd()}`),
  });
  if (a.values.timing === true) io.err(formatTiming(records));
  return { ...result.model, module };
}

function str(a: Parsed, key: string): string | undefined {
  const v = a.values[key];
  return typeof v === 'string' ? v : undefined;
}

function parseShape(text: string): number[] | undefined {
  const dims = text.split(/[,x]/).map((s) => Number(s.trim()));
  return dims.length > 0 && dims.every((d) => Number.isInteger(d) && d > 0) ? dims : undefined;
}

function readText(path: string): string | null {
  try {
    return statSync(path).isFile() ? readFileSync(path, 'utf8') : null;
  } catch {
    return null;
  }
}

function readBytes(path: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new DiagnosticError([diag('E0702', `cannot read '${path}': ${reason}`)]);
  }
}

/** Writes through a temporary file and a rename, so a failure never leaves a half-written file. */
function writeAtomic(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    if (existsSync(tmp)) rmSync(tmp, { force: true });
    throw new DiagnosticError([diag('E0704', `cannot write '${path}': ${(e as Error).message}`)]);
  }
}

/** Refuses an output directory that exists and is neither empty nor an earlier polyc package. */
function checkPackageDir(dir: string): void {
  const fail = (why: string) => {
    throw new DiagnosticError([diag('E0704', `cannot write '${dir}': ${why}`)]);
  };
  const parent = dirname(resolve(dir));
  if (!existsSync(parent) || !statSync(parent).isDirectory()) fail(`${parent} is not a directory`);
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) fail('it exists and is not a directory');
  if (readdirSync(dir).length === 0) return;
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { polyc?: unknown };
    if (pkg.polyc !== undefined) return;
  } catch {
    // not a package
  }
  fail('it exists and is not a package polyc wrote (remove it or choose another directory)');
}

/**
 * Writes a directory atomically: the files go into a temporary sibling, which then replaces `dir`
 * (an earlier package there is removed only once the new one is in place). On failure the
 * temporary directory is removed and an earlier `dir` is left as it was.
 */
export function writeDirAtomic(dir: string, files: ReadonlyMap<string, Uint8Array>): void {
  const target = resolve(dir);
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  const old = `${tmp}-old`;
  let moved = false;
  try {
    mkdirSync(tmp);
    for (const [name, bytes] of files) {
      const path = resolve(tmp, name);
      if (!path.startsWith(tmp + sep)) throw new Error(`file name '${name}' leaves the directory`);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, bytes);
    }
    if (existsSync(target)) {
      renameSync(target, old);
      moved = true;
    }
    renameSync(tmp, target);
    if (moved) rmSync(old, { recursive: true, force: true });
  } catch (e) {
    try {
      rmSync(tmp, { recursive: true, force: true });
      if (moved && !existsSync(target)) renameSync(old, target);
    } catch {
      // nothing was created, or nothing more can be done
    }
    throw new DiagnosticError([diag('E0704', `cannot write '${dir}': ${(e as Error).message}`)]);
  }
}

function diag(code: Diagnostic['code'], message: string): Diagnostic {
  return error(code, message);
}
