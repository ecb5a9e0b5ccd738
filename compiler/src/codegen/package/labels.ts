import { fail } from '../../diagnostics/diagnostic.js';
import { IMAGENET_LABELS } from './imagenet-labels.js';

/**
 * The class names a package's `topk` gives (`--labels`); imagenet-labels.ts holds ImageNet-1k's
 * 1000 names (its header says where they come from and their licence).
 */

/** What `--labels` asks for: the built-in ImageNet names, a file's text, or (undefined) the default. */
export type LabelsOption = 'imagenet' | { readonly file: string; readonly text: string } | undefined;

export function imagenetLabels(): readonly string[] {
  return IMAGENET_LABELS;
}

/**
 * A labels file: a JSON array of strings, or one label a line (blank lines at the end ignored).
 * A malformed file is `code` (E1002 for `polyc compile`, E1103 for `polyc eval`).
 */
export function parseLabels(file: string, text: string, code: 'E1002' | 'E1103' = 'E1002'): string[] {
  if (text.trimStart().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      return fail(code, `labels file ${file}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string'))
      return fail(code, `labels file ${file}: a JSON labels file must be an array of strings`);
    return parsed;
  }
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines;
}

/**
 * The labels of a model with `classes` outputs: the ImageNet names by default for 1000 classes,
 * none by default otherwise. A count that differs from `classes` is E1002.
 */
export function packageLabels(option: LabelsOption, classes: number): readonly string[] | null {
  if (option === undefined) return classes === 1000 ? imagenetLabels() : null;
  const [labels, from] =
    option === 'imagenet'
      ? [imagenetLabels(), 'the built-in ImageNet-1k labels']
      : [parseLabels(option.file, option.text), `labels file ${option.file}`];
  if (labels.length !== classes)
    fail('E1002', `${from}: ${labels.length} labels, but the model has ${classes} classes`);
  return labels;
}
