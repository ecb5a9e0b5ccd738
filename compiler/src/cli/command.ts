import { error } from '../diagnostics/diagnostic.js';
import { renderDiagnostics } from '../diagnostics/render.js';
import { formatOptions, HELP_OPTION, type OptionSpec, optionSyntax } from './options.js';

/** Where a command prints: the process's streams in `polyc`, strings in tests. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /**
   * A transient status line on stderr (a progress bar), replaced by the next and cleared by
   * `status(null)`. Present only when stderr is a terminal, so that a log or a pipe never holds one.
   */
  readonly status?: (text: string | null) => void;
}

export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_INTERNAL = 2;

export const VERSION = '0.1.0';

/** One `polyc <name>` command: its help is generated from these fields. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  /** The positional arguments as the usage line shows them, e.g. `<model.poly>`. */
  readonly operands: string;
  readonly options: readonly OptionSpec[];
  run(inv: Invocation): number | Promise<number>;
}

/** One run of a command: the parsed command line and what the run has read so far. */
export interface Invocation {
  readonly command: Command;
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly io: CliIo;
  /**
   * Source texts read by this run, by path, so that diagnostics raised after reading (checkpoint
   * mismatches, invalid IR) still show their lines. Filled by the commands, rendered by `runCli`.
   */
  readonly sources: Map<string, string>;
}

export function str(inv: Invocation, name: string): string | undefined {
  const v = inv.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flag(inv: Invocation, name: string): boolean {
  return inv.values[name] === true;
}

export function list(inv: Invocation, name: string): readonly string[] {
  const v = inv.values[name];
  return Array.isArray(v) ? v : [];
}

/** E0701 with the command's usage line; returns the exit code. */
export function usageError(io: CliIo, command: Command, message: string): number {
  io.err(renderDiagnostics([error('E0701', message)], new Map()));
  io.err(`usage: ${usage(command)}`);
  io.err(`(polyc ${command.name} --help lists its options)`);
  return EXIT_USER;
}

/** The one positional argument most commands take, or a usage error. */
export function onlyOperand(inv: Invocation, what: string): string | null {
  if (inv.positionals.length === 1) return inv.positionals[0]!;
  const got = inv.positionals.length === 0 ? 'none' : inv.positionals.join(' ');
  usageError(inv.io, inv.command, `expected one ${what}, got ${got}`);
  return null;
}

/** `polyc compile <model.poly> -o <dir> [options]`: the operands and the required options. */
export function usage(c: Command): string {
  const required = c.options
    .filter((o) => o.type === 'string' && o.required)
    .map((o) => optionSyntax(o, true));
  return ['polyc', c.name, c.operands, ...required, '[options]'].filter((p) => p !== '').join(' ');
}

export function commandHelp(c: Command): string {
  return [
    `polyc ${c.name}: ${c.summary}`,
    '',
    `usage: ${usage(c)}`,
    '',
    'options:',
    ...formatOptions([...c.options, HELP_OPTION]),
  ].join('\n');
}
