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
import { DiagnosticError, error } from '../diagnostics/diagnostic.js';
import type { SourceHost } from '../driver/frontend.js';
import type { FolderHost } from '../driver/image-folder.js';

// Everything the CLI reads and writes goes through here; failures become E0702 and E0704.

/** The text of a regular file, or null (the caller reports it where the name was written). */
export function readText(path: string): string | null {
  try {
    return statSync(path).isFile() ? readFileSync(path, 'utf8') : null;
  } catch {
    return null;
  }
}

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

export function readBytes(path: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw cannotRead(path, reason);
  }
}

/** Writes through a temporary file and a rename, so a failure never leaves a half-written file. */
export function writeAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    if (existsSync(tmp)) rmSync(tmp, { force: true });
    throw cannotWrite(path, (e as Error).message);
  }
}

/** Refuses an output directory that exists and is neither empty nor an earlier polyc package. */
export function checkPackageDir(dir: string): void {
  const fail = (why: string) => {
    throw cannotWrite(dir, why);
  };
  // Missing parents are made when the package is written (`mkdir -p`); an existing one must be a directory.
  let parent = dirname(resolve(dir));
  while (!existsSync(parent) && dirname(parent) !== parent) parent = dirname(parent);
  if (!statSync(parent).isDirectory()) fail(`${parent} is not a directory`);
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
 * temporary directory (and any parent directory this call made) is removed and an earlier `dir` is
 * left as it was.
 */
export function writeDirAtomic(dir: string, files: ReadonlyMap<string, Uint8Array>): void {
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
