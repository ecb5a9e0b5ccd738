import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { DiagnosticError, error } from '../diagnostics/diagnostic.js';
import type { SourceHost } from '../driver/frontend.js';
import type { FolderHost } from '../driver/image-folder.js';
import { type Invocation, str, usageError } from './command.js';

// Everything the CLI reads and writes goes through here; failures become E0702, E0704 and E0708.

/** The text of a regular file, or null (the caller reports it where the name was written). */
export function readText(path: string): string | null {
  try {
    if (!statSync(path).isFile()) return null;
  } catch {
    return null;
  }
  return TEXT.decode(readBytes(path, MAX_TEXT_MIB * MIB, TEXT_LIMIT_HINT));
}

/** Text inputs are read whole into a string: a bound far above any real model source or label list. */
const MAX_TEXT_MIB = 64;
const TEXT_LIMIT_HINT = '.poly sources, IR texts, label lists and tune caches are read whole';
const TEXT = new TextDecoder();

export const fileHost: SourceHost = { readFile: readText };

/** The text of a file named on the command line, or E0702. */
export function readTextOrFail(path: string): string {
  const text = readText(path);
  if (text === null) throw cannotRead(path, 'no such file');
  return text;
}

/** An image folder on disk (`polyc eval`): links are followed, as torchvision's `os.walk(followlinks=True)`. */
export const folderHost: FolderHost = {
  list(path) {
    try {
      const dirs: string[] = [];
      const files: string[] = [];
      for (const name of readdirSync(path)) {
        const st = statSync(join(path, name), { throwIfNoEntry: false });
        if (st?.isDirectory()) dirs.push(name);
        else if (st?.isFile()) files.push(name);
      }
      return { dirs, files };
    } catch {
      return null;
    }
  },
  read(path) {
    try {
      const b = readFileSync(path);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      return {
        error: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message,
      };
    }
  },
};

const MIB = 1 << 20;
/** The default of --max-file-size: checkpoints and inputs beyond it are refused unread. */
export const DEFAULT_MAX_FILE_MIB = 2048;

/** The --max-file-size limit in bytes, or null after a usage error. */
export function maxFileBytes(inv: Invocation): number | null {
  const text = str(inv, 'max-file-size');
  if (text === undefined) return DEFAULT_MAX_FILE_MIB * MIB;
  if (!/^\d{1,7}$/.test(text) || Number(text) < 1) {
    usageError(inv.io, inv.command, `--max-file-size must be a whole number of MiB from 1, got '${text}'`);
    return null;
  }
  return Number(text) * MIB;
}

/** What a file system entry is, for messages about one that is not a regular file. */
function kindOf(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a fifo (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'something other than a file';
}

/**
 * The bytes of a regular file of at most `maxBytes`, or E0702 (missing, unreadable, not a regular
 * file: a device such as /dev/zero, a fifo, a directory) or E0708 (too large). The file is opened
 * without blocking (a fifo with no writer would otherwise hang), checked on the open descriptor, and
 * read to exactly the size it had then, so neither an endless device nor a growing file is read
 * without bound.
 */
export function readBytes(
  path: string,
  maxBytes: number = DEFAULT_MAX_FILE_MIB * MIB,
  /** What E0708 tells the user to do. */
  hint = 'raise it with --max-file-size <MiB> if the file is right',
): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw cannotRead(path, reason);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw cannotRead(path, `it is ${kindOf(st)}, not a regular file`);
    if (st.size > maxBytes) {
      throw new DiagnosticError([
        error('E0708', `'${path}' is ${st.size} bytes, over the limit of ${maxBytes / MIB} MiB; ${hint}`),
      ]);
    }
    const out = new Uint8Array(st.size);
    let n = 0;
    while (n < out.length) {
      const got = readSync(fd, out, n, out.length - n, null);
      if (got === 0) throw cannotRead(path, `the file shrank to ${n} bytes while it was read`);
      n += got;
    }
    return out;
  } catch (e) {
    if (e instanceof DiagnosticError) throw e;
    throw cannotRead(path, (e as Error).message);
  } finally {
    closeSync(fd);
  }
}

/** What is at `path`, not following a symbolic link; null when nothing is. */
function entryAt(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw cannotWrite(path, (e as Error).message);
  }
}

/**
 * The one check every output path of the CLI passes, before the work and again just before the
 * write: the parent must be a directory, and whatever already exists at `path` must be what polyc
 * would put there, a regular file (for `file`) or a real directory (for `directory`; its contents
 * are checkPackageDir's business). A symbolic link (wherever it points), a fifo, a device such as
 * /dev/null or a directory where a file goes is refused, because write-then-rename would replace it.
 */
export function checkOutput(path: string, kind: 'file' | 'directory'): void {
  const parent = dirname(resolve(path));
  if (!existsSync(parent) || !statSync(parent).isDirectory()) {
    throw cannotWrite(path, `${parent} is not a directory`);
  }
  const st = entryAt(path);
  if (st === null || (kind === 'file' ? st.isFile() : st.isDirectory())) return;
  throw cannotWrite(
    path,
    `it exists and is ${kindOf(st)}; polyc only replaces ${kind === 'file' ? 'a regular file' : 'a directory'} ` +
      'there (remove it or choose another path)',
  );
}

/**
 * Writes through a temporary file and a rename, so a failure never leaves a half-written file. The
 * temporary name is new (exclusive create), so nothing already there is followed or overwritten.
 */
export function writeAtomic(path: string, bytes: Uint8Array | string): void {
  checkOutput(path, 'file');
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  let created = false;
  try {
    writeFileSync(tmp, bytes, { flag: 'wx' });
    created = true;
    checkOutput(path, 'file');
    renameSync(tmp, path);
  } catch (e) {
    if (created) rmSync(tmp, { force: true });
    if (e instanceof DiagnosticError) throw e;
    throw cannotWrite(path, (e as Error).message);
  }
}

/**
 * Refuses an output directory that is not a directory (a symbolic link to one included), or that
 * exists and is neither empty nor an earlier polyc package.
 */
export function checkPackageDir(dir: string): void {
  const fail = (why: string) => {
    throw cannotWrite(dir, why);
  };
  // Missing parents are made when the package is written (`mkdir -p`); an existing one must be a directory.
  let parent = dirname(resolve(dir));
  while (!existsSync(parent) && dirname(parent) !== parent) parent = dirname(parent);
  if (!statSync(parent).isDirectory()) fail(`${parent} is not a directory`);
  if (parent === dirname(resolve(dir))) checkOutput(dir, 'directory');
  if (!existsSync(dir) || readdirSync(dir).length === 0) return;
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
 * temporary directory (and any parent directory this call made) is removed and an earlier `dir` is
 * left as it was.
 */
export function writeDirAtomic(dir: string, files: ReadonlyMap<string, Uint8Array>): void {
  // Checked again now: the compile took a while, and something may have appeared at `dir` meanwhile.
  checkPackageDir(dir);
  const target = resolve(dir);
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  const old = `${tmp}-old`;
  let moved = false;
  // The first parent directory this write creates, removed again if it fails.
  let made: string | undefined;
  try {
    made = mkdirSync(dirname(target), { recursive: true });
    mkdirSync(tmp);
    for (const [name, bytes] of files) {
      const path = resolve(tmp, name);
      if (!path.startsWith(tmp + sep)) throw new Error(`file name '${name}' leaves the directory`);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, bytes);
    }
    if (entryAt(target) !== null) {
      renameSync(target, old);
      moved = true;
    }
    renameSync(tmp, target);
    if (moved) rmSync(old, { recursive: true, force: true });
  } catch (e) {
    try {
      rmSync(tmp, { recursive: true, force: true });
      if (moved && !existsSync(target)) renameSync(old, target);
      if (made !== undefined) rmSync(made, { recursive: true, force: true });
    } catch {
      // nothing was created, or nothing more can be done
    }
    throw cannotWrite(dir, (e as Error).message);
  }
}

function cannotRead(path: string, reason: string): DiagnosticError {
  return new DiagnosticError([error('E0702', `cannot read '${path}': ${reason}`)]);
}

function cannotWrite(path: string, reason: string): DiagnosticError {
  return new DiagnosticError([error('E0704', `cannot write '${path}': ${reason}`)]);
}
