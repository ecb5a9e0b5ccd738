import type { Command } from '../command.js';
import { check } from './check.js';
import { codes } from './codes.js';
import { compile } from './compile.js';
import { degree } from './degree.js';
import { evalCommand } from './eval.js';
import { exportOnnxCommand } from './export-onnx.js';
import { inspect } from './inspect.js';
import { opt } from './opt.js';
import { passes } from './passes.js';
import { run } from './run.js';
import { tune } from './tune.js';

/** Every `polyc` command, in the order `polyc --help` lists them. */
export const COMMANDS: readonly Command[] = [
  check,
  inspect,
  degree,
  run,
  evalCommand,
  exportOnnxCommand,
  compile,
  tune,
  opt,
  passes,
  codes,
];
