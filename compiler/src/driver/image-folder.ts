import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { RgbaImage } from '../../../runtime/src/package/preprocess.js';
import { parseLabels } from '../codegen/package/labels.js';
import { fail, note } from '../diagnostics/diagnostic.js';

/**
 * A labelled image folder in torchvision's ImageFolder layout (`root/<class>/**\/<image>`), read
 * as `torchvision.datasets.ImageFolder` reads it, so that `polyc eval` counts the same images in
 * the same order with the same class indices as a PyTorch evaluation of the same folder. Pure: the
 * directory listing and the file bytes come through a `FolderHost` (the CLI's is the file system).
 */

export interface FolderHost {
  /** A directory's subdirectories and files (links followed), or null when it is not a readable directory. */
  list(path: string): { readonly dirs: readonly string[]; readonly files: readonly string[] } | null;
  /** A file's bytes, or why it cannot be read. */
  read(path: string): Uint8Array | { readonly error: string };
}

/** torchvision's IMG_EXTENSIONS (torchvision/datasets/folder.py): other files are not samples. */
export const IMG_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp'];
/** The ones polyc decodes (pngjs, jpeg-js). */
const DECODED_EXTENSIONS = ['.jpg', '.jpeg', '.png'];

export interface ImageSample {
  /** The file, as `root` joined with its path inside the folder. */
  readonly path: string;
  /** The class index (the model's output). */
  readonly target: number;
}

export interface FolderClass {
  /** The subfolder's name. */
  readonly name: string;
  readonly index: number;
  /** Its images (before any limit). */
  readonly images: number;
}

export interface ImageFolder {
  readonly root: string;
  /** In torchvision's order (folder names sorted), each with its index. */
  readonly classes: readonly FolderClass[];
  /** Class by class, files sorted within each directory: torchvision's sample order. */
  readonly samples: readonly ImageSample[];
  /** Files left out because their extension is not an image's (torchvision skips them too). */
  readonly skipped: number;
}

/** `--labels`: a file mapping folder names to class indices. */
export interface FolderLabels {
  readonly file: string;
  readonly text: string;
}

/** Python's string order (by code point), which torchvision's `sorted` uses; JS's `<` compares UTF-16 units. */
export function pythonCompare(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

const extension = (name: string): string => {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(dot).toLowerCase();
};

/**
 * The folder's classes and samples. Fails with E1101 when it holds no class folder or a class
 * folder holds no image (torchvision raises for both), E1102 for image files polyc cannot decode
 * (BMP, TIFF, WebP, ...: failing at once rather than after hours of evaluation), E1103 when the
 * classes do not fit the model or `labels`. E0702 when `root` is not a readable directory.
 */
export function scanImageFolder(
  root: string,
  host: FolderHost,
  numClasses: number,
  labels?: FolderLabels,
): ImageFolder {
  const top = host.list(root);
  if (top === null) fail('E0702', `cannot read '${root}': not a readable directory`);
  const names = [...top.dirs].sort(pythonCompare);
  if (names.length === 0) {
    fail('E1101', `'${root}' has no class folders`, undefined, [
      note('polyc eval reads the ImageFolder layout: one subfolder per class, holding its images'),
    ]);
  }
  const indices = classIndices(names, numClasses, labels);
  const samples: ImageSample[] = [];
  const classes: FolderClass[] = [];
  const empty: string[] = [];
  const undecodable: string[] = [];
  let skipped = 0;
  for (const name of names) {
    const target = indices.get(name)!;
    let images = 0;
    for (const dir of walk(host, `${root}/${name}`)) {
      for (const file of dir.files) {
        const ext = extension(file);
        if (!IMG_EXTENSIONS.includes(ext)) {
          skipped++;
          continue;
        }
        if (!DECODED_EXTENSIONS.includes(ext)) undecodable.push(`${dir.path}/${file}`);
        samples.push({ path: `${dir.path}/${file}`, target });
        images++;
      }
    }
    if (images === 0) empty.push(name);
    classes.push({ name, index: target, images });
  }
  if (undecodable.length > 0) {
    fail(
      'E1102',
      `${undecodable.length} image${undecodable.length === 1 ? '' : 's'} in '${root}' polyc cannot decode, e.g. '${undecodable[0]}'`,
      undefined,
      [note('polyc eval decodes PNG and JPEG; convert the others (or move them out of the folder)')],
    );
  }
  if (empty.length > 0) {
    fail(
      'E1101',
      `no images in the class folder${empty.length === 1 ? '' : 's'} ${list(empty)} of '${root}'`,
      undefined,
      [note(`images are files ending in ${IMG_EXTENSIONS.join(', ')} (as torchvision's ImageFolder reads)`)],
    );
  }
  return { root, classes, samples, skipped };
}

/** A directory and every directory below it, sorted by path as torchvision's `sorted(os.walk(...))`. */
function walk(host: FolderHost, path: string): { path: string; files: string[] }[] {
  const entries = host.list(path);
  if (entries === null) fail('E0702', `cannot read '${path}': not a readable directory`);
  const here = { path, files: [...entries.files].sort(pythonCompare) };
  const below = entries.dirs.flatMap((d) => walk(host, `${path}/${d}`));
  return [here, ...below].sort((a, b) => pythonCompare(a.path, b.path));
}

const list = (names: readonly string[]): string => {
  const shown = names.slice(0, 5).map((n) => `'${n}'`);
  return names.length > 5 ? `${shown.join(', ')} and ${names.length - 5} more` : shown.join(', ');
};

/**
 * Each folder's class index: its position in sorted order (torchvision's `find_classes`), or the
 * index `labels` gives it: a JSON object `{ "<folder>": index }`, or a list of names (a JSON
 * array or one a line, as `polyc compile --labels` takes) whose positions are the indices.
 */
function classIndices(
  names: readonly string[],
  numClasses: number,
  labels?: FolderLabels,
): Map<string, number> {
  if (!labels) {
    if (names.length > numClasses) {
      fail('E1103', `${names.length} class folders, but the model has ${numClasses} classes`, undefined, [
        note("give --labels to map folder names to the model's class indices"),
      ]);
    }
    return new Map(names.map((n, i) => [n, i]));
  }
  const mapping = labelsMapping(labels);
  const where = `labels file ${labels.file}`;
  const missing = names.filter((n) => !mapping.has(n));
  if (missing.length > 0) {
    fail(
      'E1103',
      `${where} does not name the class folder${missing.length === 1 ? '' : 's'} ${list(missing)}`,
    );
  }
  for (const n of names) {
    const i = mapping.get(n)!;
    if (!Number.isInteger(i) || i < 0 || i >= numClasses) {
      fail('E1103', `${where} maps '${n}' to ${i}, but the model's classes are 0 to ${numClasses - 1}`);
    }
  }
  return new Map(names.map((n) => [n, mapping.get(n)!]));
}

function labelsMapping(labels: FolderLabels): Map<string, number> {
  const where = `labels file ${labels.file}`;
  if (labels.text.trimStart().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(labels.text);
    } catch (e) {
      return fail('E1103', `${where}: not valid JSON (${(e as Error).message})`);
    }
    const entries = Object.entries(parsed as Record<string, unknown>);
    const bad = entries.find(([, v]) => typeof v !== 'number');
    if (bad) fail('E1103', `${where}: '${bad[0]}' maps to ${JSON.stringify(bad[1])}, not a class index`);
    return new Map(entries as [string, number][]);
  }
  const names = parseLabels(labels.file, labels.text, 'E1103');
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    if (seen.has(n)) fail('E1103', `${where} names '${n}' twice (lines ${seen.get(n)! + 1} and ${i + 1})`);
    seen.set(n, i);
  });
  return seen;
}

/** A PNG or JPEG (by content, as Pillow opens files) as RGBA bytes, or E1102 naming the file. */
export function decodeImage(bytes: Uint8Array, path: string): RgbaImage {
  const png = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const jpg = bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!png && !jpg) fail('E1102', `cannot decode '${path}': not a PNG or JPEG file`);
  try {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (png) {
      const image = PNG.sync.read(buffer);
      return { data: image.data, width: image.width, height: image.height };
    }
    const image = jpeg.decode(buffer, { useTArray: true, formatAsRGBA: true });
    return { data: image.data, width: image.width, height: image.height };
  } catch (e) {
    return fail('E1102', `cannot decode '${path}': ${(e as Error).message}`);
  }
}
