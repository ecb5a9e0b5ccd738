import { type Unzipped, unzipSync } from 'fflate';
import { DiagnosticError, fail } from '../diagnostics/diagnostic.js';
import { type PickleValue, type TensorRef, unpickle } from './pickle.js';
import { DTYPE_SIZE, gather, type StateDict } from './tensor.js';

/**
 * Reader for `torch.save` files (the zip format, PyTorch >= 1.6):
 *
 *   <archive>/data.pkl     the pickled object; tensors refer to storages by persistent id
 *   <archive>/data/<key>   each storage's raw bytes (little-endian unless <archive>/byteorder says "big")
 *   <archive>/version      format version
 *
 * `<archive>` is the file's stem when it was saved (`archive/`, `weights/`, ...), so it is discovered.
 */

/** An opened torch.save file: the unpickled object, and a way to load the tensors it references. */
export interface TorchArchive {
  /** The unpickled top-level object, with tensors as unloaded `TensorRef`s. */
  readonly root: PickleValue;
  /** Reads and converts the given tensors; only their storages are decompressed and copied. */
  load(tensors: ReadonlyMap<string, TensorRef>): StateDict;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_HEADER_MIN = 46;

function notReadable(why: string): never {
  return fail(
    'E0601',
    `not a readable torch.save file: ${why} (expected a zip archive written by torch.save)`,
  );
}

/**
 * Checks the zip's end-of-central-directory record before handing the bytes to fflate. fflate trusts
 * these numbers (a forged entry count would make it loop for billions of iterations, a cut-off file
 * reads past the end as zeros), and checking here is also how a truncated download gets a plain message.
 */
function checkZipTrailer(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The record is 22 bytes plus a comment of at most 65535 bytes, so it sits in the file's tail.
  let e = bytes.length - 22;
  const stop = Math.max(0, bytes.length - 22 - 0xffff);
  while (e >= stop && view.getUint32(e, true) !== EOCD_SIG) e--;
  if (e < stop)
    notReadable('the zip is truncated or corrupt (its end-of-central-directory record is missing)');
  let entries = view.getUint16(e + 10, true);
  let cdSize = view.getUint32(e + 12, true);
  let cdOffset = view.getUint32(e + 16, true);
  let cdEnd = e;
  // Large archives (over 4 GiB or 65535 entries) keep the real numbers in a zip64 record before it.
  if (e >= 20 && view.getUint32(e - 20, true) === ZIP64_LOCATOR_SIG) {
    const z = Number(view.getBigUint64(e - 12, true));
    if (z + 56 > e || view.getUint32(z, true) !== ZIP64_EOCD_SIG)
      notReadable('the zip64 directory is corrupt');
    entries = Number(view.getBigUint64(z + 32, true));
    cdSize = Number(view.getBigUint64(z + 40, true));
    cdOffset = Number(view.getBigUint64(z + 48, true));
    cdEnd = z;
  }
  if (cdOffset + cdSize > cdEnd || entries * CENTRAL_HEADER_MIN > cdSize) {
    notReadable('the zip is truncated or corrupt (its central directory does not fit in the file)');
  }
}

/** Unzips the entries `want` accepts, turning fflate's exceptions into diagnostics. */
function unzip(bytes: Uint8Array, want: (name: string) => boolean): Unzipped {
  try {
    return unzipSync(bytes, {
      filter: (f) => {
        if (!want(f.name)) return false;
        // Deflate expands at most ~1032x; a bigger claim is a corrupt header (or a zip bomb).
        if (f.compression !== 0 && f.originalSize > f.size * 1032 + 1024)
          notReadable(`entry ${f.name} is corrupt`);
        return true;
      },
    });
  } catch (e) {
    if (e instanceof DiagnosticError) throw e;
    return notReadable(`the zip is corrupt (${e instanceof Error ? e.message : String(e)})`);
  }
}

function ascii(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? '' : String.fromCharCode(...bytes.subarray(0, 64)).trim();
}

export function openTorchZip(bytes: Uint8Array): TorchArchive {
  checkZipTrailer(bytes);
  // First pass: only the small metadata entries; storages are read once we know which are needed.
  const meta = unzip(bytes, (name) => /^[^/]+\/(data\.pkl|byteorder|constants\.pkl)$/.test(name));
  const pickles = Object.keys(meta).filter((n) => n.endsWith('/data.pkl'));
  if (pickles.length === 0) notReadable('the zip has no <archive>/data.pkl entry');
  if (pickles.length > 1) notReadable(`the zip has several data.pkl entries (${pickles.join(', ')})`);
  const pkl = pickles[0]!;
  const prefix = pkl.slice(0, -'data.pkl'.length);
  if (meta[`${prefix}constants.pkl`] !== undefined) {
    notReadable(
      'this is a TorchScript archive (torch.jit.save); save model.state_dict() with torch.save instead',
    );
  }
  const byteorder = ascii(meta[`${prefix}byteorder`]);
  const littleEndian = byteorder !== 'big';
  const root = unpickle(meta[pkl]!);

  return {
    root,
    load(tensors) {
      const storageName = (t: TensorRef): string => `${prefix}data/${t.storage.key}`;
      const wanted = new Set([...tensors.values()].map(storageName));
      const files = unzip(bytes, (name) => wanted.has(name));
      const out: StateDict = new Map();
      for (const [key, t] of tensors) {
        const { dtype, typeName, numel } = t.storage;
        if (dtype === null) {
          fail(
            'E0606',
            `tensor ${key} is stored as ${typeName}; polyc imports float and integer tensors only`,
          );
        }
        const name = storageName(t);
        const data = files[name];
        if (data === undefined) fail('E0608', `tensor ${key}: storage ${name} is missing from the archive`);
        const need = numel * DTYPE_SIZE[dtype];
        if (data.length < need) {
          fail(
            'E0608',
            `tensor ${key}: storage ${name} has ${data.length} bytes but should have ${need}; ` +
              'the file is truncated or corrupt',
          );
        }
        // Only the storage's declared extent counts, even if the entry carries padding.
        const layout = { offset: t.offset, shape: t.shape, stride: t.stride };
        const values = gather(data.subarray(0, need), dtype, littleEndian, layout, `tensor ${key}`);
        out.set(key, { dtype, shape: [...t.shape], data: values });
      }
      return out;
    },
  };
}
