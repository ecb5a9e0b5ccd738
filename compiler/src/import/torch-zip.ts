import { Inflate } from 'fflate';
import { fail } from '../diagnostics/diagnostic.js';
import { type PickleValue, type TensorRef, unpickle } from './pickle.js';
import { type Checkpoint, checkExtent, DTYPE_SIZE, gather, numelOf, viewExtent } from './tensor.js';

/**
 * Reader for `torch.save` files (the zip format, PyTorch >= 1.6):
 *
 *   <archive>/data.pkl     the pickled object; tensors refer to storages by persistent id
 *   <archive>/data/<key>   each storage's raw bytes (little-endian unless <archive>/byteorder says "big")
 *   <archive>/version      format version
 *
 * `<archive>` is the file's stem when it was saved (`archive/`, `weights/`, ...), so it is discovered.
 *
 * The zip's directory is read here rather than by unzipping: nothing is decompressed until the
 * model's keys and shapes have been checked, storages are read only for the tensors a model needs
 * (stored entries, which is what torch.save writes, without a copy), and a compressed entry is
 * inflated only as far as those tensors reach. So a small file cannot make polyc allocate more
 * than the model's own weights, whatever sizes its headers and pickle claim.
 */

/** An opened torch.save file: the unpickled object, and its state dict as a lazy checkpoint. */
export interface TorchArchive {
  /** The unpickled top-level object, with tensors as unloaded `TensorRef`s. */
  readonly root: PickleValue;
  /** The given tensors (found in `root`) as a checkpoint whose `load` reads their storages. */
  checkpoint(tensors: ReadonlyMap<string, TensorRef>): Checkpoint;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const CENTRAL_HEADER_MIN = 46;
const LOCAL_HEADER_MIN = 30;
const STORED = 0;
const DEFLATED = 8;
/** Deflate expands at most ~1032x; an entry claiming more is corrupt (or a zip bomb). */
const MAX_DEFLATE_RATIO = 1032;
/**
 * A pickle that inflates beyond this is refused: a real data.pkl is about 100 bytes per tensor, and
 * torch.save stores it uncompressed anyway, so this only stops a compressed pickle of repeated opcodes.
 */
const MAX_INFLATED_PICKLE = 64 << 20;
/**
 * A compressed storage is inflated from its start up to the furthest element the model's views of it
 * reach; beyond this many times the bytes those views hold (plus a little), it is refused rather than
 * inflated. Uncompressed storages are read in place and need no such bound.
 */
const MAX_INFLATE_OVER_VIEWS = 4;
const INFLATE_SLACK = 1 << 20;
/**
 * Compressed input per Inflate push, between these: about what the bytes still wanted need at the
 * densest deflate ratio, so that one push never inflates much more than is wanted.
 */
const MIN_INFLATE_CHUNK = 1024;
const MAX_INFLATE_CHUNK = 1 << 20;

interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly compressedSize: number;
  /** The uncompressed size the directory declares; checked against the data when it is read. */
  readonly size: number;
  readonly localOffset: number;
}

function notReadable(why: string): never {
  return fail(
    'E0601',
    `not a readable torch.save file: ${why} (expected a zip archive written by torch.save)`,
  );
}

/**
 * Finds the central directory from the end-of-central-directory record (and its zip64 form) and
 * checks that it fits in the file, so a forged entry count or a cut-off download is a plain message.
 */
function findCentralDirectory(view: DataView): { entries: number; offset: number; size: number } {
  const length = view.byteLength;
  // The record is 22 bytes plus a comment of at most 65535 bytes, so it sits in the file's tail.
  let e = length - 22;
  const stop = Math.max(0, length - 22 - 0xffff);
  while (e >= stop && view.getUint32(e, true) !== EOCD_SIG) e--;
  if (e < stop)
    notReadable('the zip is truncated or corrupt (its end-of-central-directory record is missing)');
  let entries = view.getUint16(e + 10, true);
  let size = view.getUint32(e + 12, true);
  let offset = view.getUint32(e + 16, true);
  let cdEnd = e;
  // Large archives (over 4 GiB or 65535 entries) keep the real numbers in a zip64 record before it.
  if (e >= 20 && view.getUint32(e - 20, true) === ZIP64_LOCATOR_SIG) {
    const z = Number(view.getBigUint64(e - 12, true));
    if (z + 56 > e || view.getUint32(z, true) !== ZIP64_EOCD_SIG)
      notReadable('the zip64 directory is corrupt');
    entries = Number(view.getBigUint64(z + 32, true));
    size = Number(view.getBigUint64(z + 40, true));
    offset = Number(view.getBigUint64(z + 48, true));
    cdEnd = z;
  }
  if (offset + size > cdEnd || entries * CENTRAL_HEADER_MIN > size) {
    notReadable('the zip is truncated or corrupt (its central directory does not fit in the file)');
  }
  return { entries, offset, size };
}

const utf8 = new TextDecoder('utf-8');

/** The zip's entries by name, from the central directory; no entry data is touched. */
function readDirectory(view: DataView, bytes: Uint8Array): Map<string, ZipEntry> {
  const cd = findCentralDirectory(view);
  const end = cd.offset + cd.size;
  const corrupt = (): never => notReadable('the zip is corrupt (a central directory entry is malformed)');
  const dir = new Map<string, ZipEntry>();
  let p = cd.offset;
  for (let i = 0; i < cd.entries; i++) {
    if (p + CENTRAL_HEADER_MIN > end || view.getUint32(p, true) !== CENTRAL_SIG) corrupt();
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let localOffset = view.getUint32(p + 42, true);
    const nameEnd = p + CENTRAL_HEADER_MIN + nameLength;
    const next = nameEnd + extraLength + commentLength;
    if (next > end) corrupt();
    const name = utf8.decode(bytes.subarray(p + CENTRAL_HEADER_MIN, nameEnd));
    // zip64: the fields saturated at 0xffffffff are in extra field 0x0001, in this order.
    const MAX32 = 0xffffffff;
    if (size === MAX32 || compressedSize === MAX32 || localOffset === MAX32) {
      let x = nameEnd;
      while (x + 4 <= nameEnd + extraLength && view.getUint16(x, true) !== 1)
        x += 4 + view.getUint16(x + 2, true);
      if (x + 4 > nameEnd + extraLength) corrupt();
      let f = x + 4;
      const fieldEnd = f + view.getUint16(x + 2, true);
      const big = (): number => {
        if (f + 8 > fieldEnd) corrupt();
        const v = Number(view.getBigUint64(f, true));
        f += 8;
        return v;
      };
      if (size === MAX32) size = big();
      if (compressedSize === MAX32) compressedSize = big();
      if (localOffset === MAX32) localOffset = big();
    }
    if (flags & 1) notReadable(`entry ${name} is encrypted`);
    if (dir.has(name)) notReadable(`entry ${name} appears twice`);
    dir.set(name, { name, method, compressedSize, size, localOffset });
    p = next;
  }
  return dir;
}

/** The entry's data as stored in the file (compressed or not), located through its local header. */
function rawData(view: DataView, bytes: Uint8Array, e: ZipEntry): Uint8Array {
  const lo = e.localOffset;
  if (lo + LOCAL_HEADER_MIN > bytes.length || view.getUint32(lo, true) !== LOCAL_SIG) {
    notReadable(`entry ${e.name} is corrupt (no local header where the directory says)`);
  }
  const start = lo + LOCAL_HEADER_MIN + view.getUint16(lo + 26, true) + view.getUint16(lo + 28, true);
  if (start + e.compressedSize > bytes.length) notReadable(`entry ${e.name} is truncated`);
  return bytes.subarray(start, start + e.compressedSize);
}

/** The first `want` bytes of a deflate stream, inflated a chunk at a time and no further. */
function inflatePrefix(raw: Uint8Array, want: number, name: string): Uint8Array {
  const out = new Uint8Array(want);
  let n = 0;
  let ended = false;
  const inflate = new Inflate((chunk, final) => {
    const take = Math.min(chunk.length, want - n);
    out.set(chunk.subarray(0, take), n);
    n += take;
    ended = final;
  });
  try {
    for (let i = 0; n < want && !ended && i < raw.length; ) {
      const step = Math.min(
        MAX_INFLATE_CHUNK,
        Math.max(MIN_INFLATE_CHUNK, Math.ceil((want - n) / MAX_DEFLATE_RATIO)),
      );
      inflate.push(raw.subarray(i, i + step), i + step >= raw.length);
      i += step;
    }
  } catch (e) {
    notReadable(`entry ${name} is corrupt (${e instanceof Error ? e.message : String(e)})`);
  }
  if (n < want) notReadable(`entry ${name} is corrupt (it inflates to less than its declared size)`);
  return out;
}

/** The first `want` bytes (at most the declared size) of an entry's content. */
function readEntry(view: DataView, bytes: Uint8Array, e: ZipEntry, want: number): Uint8Array {
  const raw = rawData(view, bytes, e);
  if (e.method === STORED) {
    if (e.size !== e.compressedSize) notReadable(`entry ${e.name} is corrupt (stored with two sizes)`);
    return raw.subarray(0, want);
  }
  if (e.method !== DEFLATED) {
    notReadable(
      `entry ${e.name} uses compression method ${e.method}; polyc reads stored and deflated entries`,
    );
  }
  if (e.size > e.compressedSize * MAX_DEFLATE_RATIO + 1024) notReadable(`entry ${e.name} is corrupt`);
  return inflatePrefix(raw, want, e.name);
}

function ascii(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? '' : String.fromCharCode(...bytes.subarray(0, 64)).trim();
}

export function openTorchZip(bytes: Uint8Array): TorchArchive {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dir = readDirectory(view, bytes);
  const pickles = [...dir.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length === 0) notReadable('the zip has no <archive>/data.pkl entry');
  if (pickles.length > 1) notReadable(`the zip has several data.pkl entries (${pickles.join(', ')})`);
  const pkl = dir.get(pickles[0]!)!;
  const prefix = pkl.name.slice(0, -'data.pkl'.length);
  if (dir.has(`${prefix}constants.pkl`)) {
    notReadable(
      'this is a TorchScript archive (torch.jit.save); save model.state_dict() with torch.save instead',
    );
  }
  const byteorderEntry = dir.get(`${prefix}byteorder`);
  const byteorder =
    byteorderEntry && ascii(readEntry(view, bytes, byteorderEntry, Math.min(byteorderEntry.size, 64)));
  const littleEndian = byteorder !== 'big';
  if (pkl.method !== STORED && pkl.size > MAX_INFLATED_PICKLE) {
    notReadable(
      `its compressed data.pkl inflates to ${pkl.size} bytes (at most ${MAX_INFLATED_PICKLE} are read)`,
    );
  }
  const root = unpickle(readEntry(view, bytes, pkl, pkl.size));

  return {
    root,
    checkpoint(tensors) {
      const storageName = (t: TensorRef): string => `${prefix}data/${t.storage.key}`;
      return {
        tensors: new Map([...tensors].map(([key, t]) => [key, { dtype: t.storage.dtype, shape: t.shape }])),
        load(keys) {
          // Everything is checked against the headers first; then each storage is read once, for
          // all the wanted tensors that view it, and dropped before the next.
          const byStorage = new Map<string, { key: string; t: TensorRef }[]>();
          for (const key of keys) {
            const t = tensors.get(key)!;
            const group = byStorage.get(storageName(t)) ?? [];
            group.push({ key, t });
            byStorage.set(storageName(t), group);
          }
          const plans = [...byStorage].map(([name, group]) => planStorage(dir, name, group));
          const out = new Map<string, Float32Array>();
          for (const { entry, extentBytes, group } of plans) {
            const data = readEntry(view, bytes, entry, extentBytes);
            for (const { key, t } of group) {
              const dtype = t.storage.dtype!;
              const need = t.storage.numel * DTYPE_SIZE[dtype];
              const layout = { offset: t.offset, shape: t.shape, stride: t.stride };
              out.set(key, gather(data.subarray(0, need), dtype, littleEndian, layout, `tensor ${key}`));
            }
          }
          return new Map(keys.map((k) => [k, out.get(k)!]));
        },
      };
    },
  };
}

/**
 * Checks the tensors that view one storage against the zip's directory and their declared storage
 * size, and returns how many bytes of the entry they reach. Throws before anything is read.
 */
function planStorage(
  dir: ReadonlyMap<string, ZipEntry>,
  name: string,
  group: readonly { key: string; t: TensorRef }[],
): { entry: ZipEntry; extentBytes: number; group: readonly { key: string; t: TensorRef }[] } {
  const entry = dir.get(name);
  let extentBytes = 0;
  let viewBytes = 0;
  for (const { key, t } of group) {
    const { dtype, typeName, numel } = t.storage;
    if (dtype === null) {
      fail('E0606', `tensor ${key} is stored as ${typeName}; polyc imports float and integer tensors only`);
    }
    if (entry === undefined) fail('E0608', `tensor ${key}: storage ${name} is missing from the archive`);
    const itemSize = DTYPE_SIZE[dtype];
    const need = numel * itemSize;
    if (entry.size < need) {
      fail(
        'E0608',
        `tensor ${key}: storage ${name} has ${entry.size} bytes but should have ${need}; ` +
          'the file is truncated or corrupt',
      );
    }
    const layout = { offset: t.offset, shape: t.shape, stride: t.stride };
    checkExtent(layout, numel, dtype, `tensor ${key}`);
    extentBytes = Math.max(extentBytes, viewExtent(layout) * itemSize);
    viewBytes += numelOf(t.shape) * itemSize;
  }
  if (entry!.method !== STORED && extentBytes > viewBytes * MAX_INFLATE_OVER_VIEWS + INFLATE_SLACK) {
    fail(
      'E0606',
      `tensor ${group[0]!.key}: its compressed storage ${name} would be inflated to ${extentBytes} bytes ` +
        `for views of ${viewBytes} bytes; save the tensor with .clone() or keep the zip uncompressed, as torch.save writes it`,
    );
  }
  return { entry: entry!, extentBytes, group };
}
