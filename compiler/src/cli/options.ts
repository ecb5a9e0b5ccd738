import type { ParseArgsConfig } from 'node:util';

/**
 * The command line's options as data: `parseArgs`'s configuration and every help text are made
 * from these records, so an option cannot be accepted without being documented or vice versa.
 */
export type OptionSpec = FlagOption | ValueOption;

interface OptionCommon {
  /** The long name, without `--`. */
  readonly name: string;
  readonly short?: string;
  /** One line, shown in `--help`. */
  readonly description: string;
}

export interface FlagOption extends OptionCommon {
  readonly type: 'boolean';
}

export interface ValueOption extends OptionCommon {
  readonly type: 'string';
  /** The value's placeholder in help and usage lines, e.g. `<file>`. */
  readonly value: string;
  /** May be given several times (the values come as a list). */
  readonly multiple?: boolean;
  /** Shown outside the brackets of the usage line; the command checks it with its own message. */
  readonly required?: boolean;
}

export function booleanOption(name: string, description: string, more: { short?: string } = {}): FlagOption {
  return { name, type: 'boolean', description, ...more };
}

export function stringOption(
  name: string,
  value: string,
  description: string,
  more: Partial<Pick<ValueOption, 'short' | 'multiple' | 'required'>> = {},
): ValueOption {
  return { name, type: 'string', value, description, ...more };
}

export const HELP_OPTION = booleanOption('help', 'show this help', { short: 'h' });

/** The pass-manager options, shared by the model-building commands and `polyc opt`. */
export const PIPELINE_OPTIONS: readonly OptionSpec[] = [
  stringOption(
    'passes',
    '<list>',
    'optimisation pipeline: pass names separated by commas, `default` or `none` (see `polyc passes`)',
  ),
  stringOption(
    'print-ir-after',
    '<passes>',
    'print the IR after these passes (comma-separated), after `all`, or after those `changed`',
  ),
  booleanOption('verify-each', 'verify the IR after every pass'),
  booleanOption('timing', 'print the time each pass took'),
];

/** The options of every command that builds a model from a .poly file. */
export const MODEL_OPTIONS: readonly OptionSpec[] = [
  stringOption('set', '<name=value>', 'override a model setting, e.g. --set image_size=96', {
    multiple: true,
  }),
  stringOption('model', '<name>', 'the model to build when the file declares several'),
  stringOption(
    'limit',
    '<name=value>',
    'raise a compile-time limit, e.g. --limit eval-steps=50000000 (docs/language.md#limits)',
    { multiple: true },
  ),
  ...PIPELINE_OPTIONS,
];

/** `--weights` for the commands that fall back to deterministic random weights without it. */
export function optionalWeightsOption(purpose: string): ValueOption {
  return stringOption(
    'weights',
    '<file>',
    `checkpoint to ${purpose}; without it, deterministic random weights (seed 0)`,
  );
}

/** `--max-file-size` for the commands that read a checkpoint or an input file. */
export const MAX_FILE_SIZE_OPTION = stringOption(
  'max-file-size',
  '<MiB>',
  'refuse --weights/--input files larger than this, before reading them (default 2048)',
);

/** `--tune-cache` for the commands that plan WebGPU kernels. */
export const TUNE_CACHE_OPTION = stringOption(
  'tune-cache',
  '<file>',
  'render kernels as `polyc tune` chose them for the adapter (kernels without a choice: the default rule)',
);

/** `-o` for the commands that write one file or directory. */
export function outputOption(value: string, description: string, required = false): ValueOption {
  return stringOption('output', value, description, { short: 'o', ...(required ? { required } : {}) });
}

export function parseArgsOptions(specs: readonly OptionSpec[]): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(
    specs.map((s) => [
      s.name,
      {
        type: s.type,
        ...(s.short === undefined ? {} : { short: s.short }),
        ...(s.type === 'string' && s.multiple ? { multiple: true } : {}),
      },
    ]),
  );
}

/** `--set <name=value>...`: an option as help spells it; `short` gives `-o <dir>` for usage lines. */
export function optionSyntax(s: OptionSpec, short = false): string {
  const flag = short && s.short !== undefined ? `-${s.short}` : `--${s.name}`;
  return s.type === 'boolean' ? flag : `${flag} ${s.value}${s.multiple ? '...' : ''}`;
}

/** The options part of `--help`: one aligned line per option. */
export function formatOptions(specs: readonly OptionSpec[]): string[] {
  const left = specs.map((s) => `${s.short === undefined ? '    ' : `-${s.short}, `}${optionSyntax(s)}`);
  const width = Math.max(...left.map((l) => l.length));
  return specs.map((s, i) => `  ${left[i]!.padEnd(width)}  ${s.description}`);
}
