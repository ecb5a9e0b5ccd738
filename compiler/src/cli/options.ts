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

export const HELP_OPTION: FlagOption = {
  name: 'help',
  short: 'h',
  type: 'boolean',
  description: 'show this help',
};

/** How every model-building command names its model. */
export const MODEL_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'set',
    type: 'string',
    value: '<name=value>',
    multiple: true,
    description: 'override a model setting, e.g. --set image_size=96',
  },
  {
    name: 'model',
    type: 'string',
    value: '<name>',
    description: 'the model to build when the file declares several',
  },
];

/** The pass-manager options, shared by the model-building commands and `polyc opt`. */
export const PIPELINE_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'passes',
    type: 'string',
    value: '<list>',
    description:
      'optimisation pipeline: pass names separated by commas, `default` or `none` (see `polyc passes`)',
  },
  {
    name: 'print-ir-after',
    type: 'string',
    value: '<passes>',
    description: 'print the IR after these passes (comma-separated), after `all`, or after those `changed`',
  },
  { name: 'verify-each', type: 'boolean', description: 'verify the IR after every pass' },
  { name: 'timing', type: 'boolean', description: 'print the time each pass took' },
];

/** `-o` for the commands that write one file or directory. */
export function outputOption(value: string, description: string, required = false): ValueOption {
  return {
    name: 'output',
    short: 'o',
    type: 'string',
    value,
    description,
    ...(required ? { required } : {}),
  };
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

/** `--set <name=value>...`: an option as the usage line and help spell it. */
export function optionSyntax(s: OptionSpec): string {
  return s.type === 'boolean' ? `--${s.name}` : `--${s.name} ${s.value}${s.multiple ? '...' : ''}`;
}

/** The options part of `--help`: one aligned line per option. */
export function formatOptions(specs: readonly OptionSpec[]): string[] {
  const left = specs.map((s) => `${s.short === undefined ? '    ' : `-${s.short}, `}${optionSyntax(s)}`);
  const width = Math.max(...left.map((l) => l.length));
  return specs.map((s, i) => `  ${left[i]!.padEnd(width)}  ${s.description}`);
}
