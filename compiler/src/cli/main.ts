import { parseArgs } from 'node:util';
import { RuntimeError } from '../../../runtime/src/index.js';
import { DiagnosticError, error } from '../diagnostics/diagnostic.js';
import { renderDiagnostics } from '../diagnostics/render.js';
import { didYouMean } from '../diagnostics/suggest.js';
import {
  type CliIo,
  type Command,
  commandHelp,
  EXIT_INTERNAL,
  EXIT_OK,
  EXIT_USER,
  type Invocation,
  usageError,
  VERSION,
} from './command.js';
import { COMMANDS } from './commands/index.js';
import { HELP_OPTION, parseArgsOptions } from './options.js';

/**
 * The `polyc` command line: the only code that touches files, processes and the terminal. This
 * file dispatches; each command lives in `commands/`, its options and help are data.
 * Exit codes: 0 success, 1 user error (bad input, with diagnostics), 2 internal compiler error.
 */

const nodeIo: CliIo = {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
  ...(process.stderr.isTTY
    ? {
        // Carriage return and erase-line: the line is rewritten in place, cut to the terminal's width.
        status: (t: string | null) =>
          process.stderr.write(`\r\x1b[K${t === null ? '' : t.slice(0, (process.stderr.columns || 80) - 1)}`),
      }
    : {}),
};

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `polyc ${VERSION}: a compiler for activation-free polynomial vision networks`,
    '',
    'usage: polyc <command> [options]    (polyc <command> --help for details)',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'exit codes: 0 ok, 1 user error (diagnostics on stderr), 2 internal compiler error',
  ].join('\n');
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
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(renderDiagnostics([error('E0701', `unknown command '${name}'`)], new Map()));
    io.err(mainHelp());
    return EXIT_USER;
  }
  const inv = parseInvocation(command, rest, io);
  if (typeof inv === 'number') return inv;
  if (inv.values.help === true) {
    io.out(commandHelp(command));
    return EXIT_OK;
  }
  try {
    return await command.run(inv);
  } catch (e) {
    if (e instanceof DiagnosticError) {
      io.err(renderDiagnostics(e.diagnostics, inv.sources));
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

/** The command line parsed against the command's option table, or the exit code of a usage error. */
function parseInvocation(command: Command, args: readonly string[], io: CliIo): Invocation | number {
  try {
    const { positionals, values } = parseArgs({
      args: [...args],
      options: parseArgsOptions([...command.options, HELP_OPTION]),
      allowPositionals: true,
      strict: true,
    });
    // Only string options are ever `multiple` (see ValueOption), so lists hold strings.
    return { command, positionals, values: values as Invocation['values'], io, sources: new Map() };
  } catch (e) {
    return usageError(io, command, argumentProblem(command, e as Error & { code?: string }));
  }
}

/** parseArgs's complaint, reworded for an unknown option: which command, and the nearest option. */
function argumentProblem(command: Command, e: Error & { code?: string }): string {
  const unknown = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'([^']+)'/.exec(e.message)?.[1] : undefined;
  if (unknown === undefined) return e.message;
  const flags = [...command.options, HELP_OPTION].map((o) => `--${o.name}`);
  return `unknown option '${unknown}' for polyc ${command.name}${didYouMean(unknown, flags)}`;
}
