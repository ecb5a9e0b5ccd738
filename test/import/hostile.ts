import { deflateRawSync } from 'node:zlib';
import { zipSync } from 'fflate';
import { bytesOf } from './helpers.js';

/**
 * Builders for the checkpoints that amplify memory when a reader trusts their headers: aliases of
 * one storage expanded to a large shape, safetensors entries sharing one data range, zip entries
 * sharing one deflate stream. Files are built here, from bytes, so the tests need no fixtures.
 */

/** A pickle integer: BININT1 when it fits, else BININT (4 bytes, little-endian). */
function int(n: number): string {
  if (n < 256) return `K${String.fromCharCode(n)}`;
  return `J${String.fromCharCode(n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255)}`;
}

function str(s: string): string {
  const n = s.length;
  return `X${String.fromCharCode(n & 255, (n >> 8) & 255, (n >> 16) & 255, n >>> 24)}${s}`;
}

function tuple(items: readonly number[]): string {
  return `(${items.map(int).join('')}t`;
}

export interface HostileTensor {
  readonly key: string;
  /** The storage key (`data/<storage>`) and its declared element count. */
  readonly storage: string;
  readonly numel: number;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  /** The storage class (default FloatStorage). */
  readonly type?: string;
}

/** A protocol-2 pickle of a dict of float32 tensors, each storage described once (memoised). */
export function statePickle(tensors: readonly HostileTensor[]): Uint8Array {
  const memo = new Map<string, number>();
  const put = (id: string): string => {
    memo.set(id, memo.size);
    const i = memo.size - 1;
    return `r${String.fromCharCode(i & 255, (i >> 8) & 255, (i >> 16) & 255, i >>> 24)}`;
  };
  const get = (id: string): string => {
    const i = memo.get(id)!;
    return `j${String.fromCharCode(i & 255, (i >> 8) & 255, (i >> 16) & 255, i >>> 24)}`;
  };
  let out = '\x80\x02}(';
  for (const t of tensors) {
    const rebuild = memo.has('rebuild')
      ? get('rebuild')
      : `ctorch._utils\n_rebuild_tensor_v2\n${put('rebuild')}`;
    const sid = `s:${t.storage}`;
    const storage = memo.has(sid)
      ? get(sid)
      : `(${str('storage')}ctorch\n${t.type ?? 'FloatStorage'}\n${str(t.storage)}${str('cpu')}${int(t.numel)}tQ${put(sid)}`;
    out += `${str(t.key)}${rebuild}(${storage}${int(t.offset)}${tuple(t.shape)}${tuple(t.stride)}\x89ccollections\nOrderedDict\n)RtR`;
  }
  return bytesOf(`${out}u.`);
}

/** A torch.save zip (stored entries, as torch.save writes them) around a pickle and its storages. */
export function torchZip(pickle: Uint8Array, storages: Readonly<Record<string, Uint8Array>>): Uint8Array {
  const files: Record<string, Uint8Array> = { 'archive/data.pkl': pickle, 'archive/version': bytesOf('3\n') };
  for (const [k, v] of Object.entries(storages)) files[`archive/data/${k}`] = v;
  return zipSync(files, { level: 0 });
}

/** `torch.zeros(1).expand(size)` saved `aliases` times, all views of one 1-element storage. */
export function expandedAliases(aliases: number, size: number): { bytes: Uint8Array; keys: string[] } {
  const keys = Array.from({ length: aliases }, (_, i) => `w${i}`);
  const pickle = statePickle(
    keys.map((key) => ({ key, storage: '0', numel: 1, offset: 0, shape: [size], stride: [0] })),
  );
  return { bytes: torchZip(pickle, { '0': new Uint8Array(4) }), keys };
}

/** A safetensors file whose `entries` F32 tensors of `numel` elements all cover the same bytes. */
export function overlappingSafetensors(
  entries: number,
  numel: number,
): { bytes: Uint8Array; keys: string[] } {
  const keys = Array.from({ length: entries }, (_, i) => `w${i}`);
  const header: Record<string, unknown> = {};
  for (const k of keys) header[k] = { dtype: 'F32', shape: [numel], data_offsets: [0, numel * 4] };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + numel * 4);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return { bytes: out, keys };
}

/**
 * A torch.save zip whose `entries` storages (`archive/data/<i>`) are all one deflate stream of
 * `streamBytes` zeros: their central directory records point at the same local header. Each tensor
 * is `shape` over its storage at `offset` (elements).
 */
export function sharedStreamZip(
  entries: number,
  streamBytes: number,
  view: { offset: number; shape: readonly number[] },
  /** The size the directory declares for each entry (default: the stream's). */
  declaredBytes = streamBytes,
): { bytes: Uint8Array; keys: string[] } {
  const keys = Array.from({ length: entries }, (_, i) => `w${i}`);
  const stride = view.shape.map((_, d) => view.shape.slice(d + 1).reduce((a, b) => a * b, 1));
  const pickle = statePickle(
    keys.map((key, i) => ({
      key,
      storage: String(i),
      numel: declaredBytes / 4,
      offset: view.offset,
      shape: view.shape,
      stride,
    })),
  );
  const stream = new Uint8Array(deflateRawSync(new Uint8Array(streamBytes), { level: 9 }));
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let at = 0;
  const local = (name: Uint8Array, method: number, data: Uint8Array, size: number): number => {
    const h = new Uint8Array(30 + name.length);
    const v = new DataView(h.buffer);
    v.setUint32(0, 0x04034b50, true);
    v.setUint16(4, 20, true);
    v.setUint16(8, method, true);
    v.setUint32(18, data.length, true);
    v.setUint32(22, size, true);
    v.setUint16(26, name.length, true);
    h.set(name, 30);
    const offset = at;
    chunks.push(h, data);
    at += h.length + data.length;
    return offset;
  };
  const record = (
    name: Uint8Array,
    method: number,
    compressed: number,
    size: number,
    offset: number,
  ): void => {
    const h = new Uint8Array(46 + name.length);
    const v = new DataView(h.buffer);
    v.setUint32(0, 0x02014b50, true);
    v.setUint16(4, 20, true);
    v.setUint16(6, 20, true);
    v.setUint16(10, method, true);
    v.setUint32(20, compressed, true);
    v.setUint32(24, size, true);
    v.setUint16(28, name.length, true);
    v.setUint32(42, offset, true);
    h.set(name, 46);
    central.push(h);
  };
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
  const pklName = enc('archive/data.pkl');
  record(pklName, 0, pickle.length, pickle.length, local(pklName, 0, pickle, pickle.length));
  const shared = local(enc('archive/data/0'), 8, stream, declaredBytes);
  for (let i = 0; i < entries; i++) record(enc(`archive/data/${i}`), 8, stream.length, declaredBytes, shared);
  const cdOffset = at;
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const end = new Uint8Array(22);
  const e = new DataView(end.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, central.length, true);
  e.setUint16(10, central.length, true);
  e.setUint32(12, cdSize, true);
  e.setUint32(16, cdOffset, true);
  const parts = [...chunks, ...central, end];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return { bytes: out, keys };
}
