import fc from 'fast-check';
import { deflateSync } from 'fflate';
import { applyByteEdits, byteEdits } from './mutate.js';

/**
 * Checkpoint generators: torch.save zips (a protocol-2 pickle plus raw storages), safetensors files
 * and bare pickles, written here byte by byte (no Python), for the tensors a model expects; then
 * truncated and bit-flipped, made hostile (pickle opcodes that would run code) or amplifying
 * (small files that ask for gigabytes: expanded and aliased storages, overlapping ranges, one
 * deflate stream shared by many zip entries, sizes that lie). A case is the file's bytes and its name.
 */

export interface CheckpointCase {
  readonly bytes: Uint8Array;
  readonly name: string;
  /** Which family made it, for the report and for properties that hold per family. */
  readonly family: 'valid' | 'mutant' | 'hostile' | 'amplifier';
}

export interface TensorSpec {
  readonly key: string;
  readonly shape: readonly number[];
}

// ---- a pickle writer (protocol 2, the opcodes torch.save emits) ----

const enc = new TextEncoder();

class PickleWriter {
  private readonly parts: number[] = [];
  op(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  raw(s: string): this {
    for (const c of s) this.parts.push(c.charCodeAt(0) & 255);
    return this;
  }
  u32(n: number): this {
    return this.op(n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255);
  }
  str(s: string): this {
    const b = enc.encode(s);
    this.op(0x58).u32(b.length); // BINUNICODE
    this.parts.push(...b);
    return this;
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n); // BININT1
    if (n >= -(2 ** 31) && n < 2 ** 31) return this.op(0x4a).u32(n); // BININT
    // LONG1 with 8 bytes, two's complement little-endian.
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, BigInt(n), true);
    return this.op(0x8a, 8, ...b);
  }
  global(module: string, name: string): this {
    return this.raw(`c${module}\n${name}\n`);
  }
  tuple(items: readonly number[]): this {
    this.op(0x28);
    for (const n of items) this.int(n);
    return this.op(0x74);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export interface StoredTensor extends TensorSpec {
  /** The storage key (a file name under data/). */
  readonly storage: string;
  readonly storageNumel: number;
  readonly offset: number;
  readonly stride: readonly number[];
  readonly dtype?: string;
}

function contiguous(shape: readonly number[]): number[] {
  const s: number[] = [];
  let n = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = n;
    n *= shape[i]!;
  }
  return s;
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The data.pkl of a state dict (an OrderedDict of `_rebuild_tensor_v2` calls), optionally wrapped. */
export function stateDictPickle(tensors: readonly StoredTensor[], wrap?: string): Uint8Array {
  const w = new PickleWriter().op(0x80, 2);
  if (wrap !== undefined) w.op(0x7d).str(wrap); // {wrap: <state dict>}
  w.global('collections', 'OrderedDict').op(0x29, 0x52, 0x28); // OrderedDict() then MARK
  for (const t of tensors) {
    w.str(t.key);
    w.global('torch._utils', '_rebuild_tensor_v2').op(0x28);
    w.op(0x28)
      .str('storage')
      .global('torch', t.dtype ?? 'FloatStorage')
      .str(t.storage)
      .str('cpu');
    w.int(t.storageNumel).op(0x74, 0x51); // TUPLE, BINPERSID
    w.int(t.offset).tuple(t.shape).tuple(t.stride).op(0x89);
    w.global('collections', 'OrderedDict').op(0x29, 0x52, 0x74, 0x52);
  }
  w.op(0x75); // SETITEMS
  if (wrap !== undefined) w.op(0x73); // SETITEM
  return w.op(0x2e).bytes();
}

// ---- a zip writer: fflate's zipSync for honest archives, by hand for lying ones ----

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 255]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface ZipEntry {
  readonly name: string;
  /** The stored bytes (deflated when `deflated`). */
  readonly data: Uint8Array;
  readonly deflated: boolean;
  /** What the headers claim; lying headers put other numbers here. */
  readonly originalSize: number;
  readonly crc: number;
  /** An earlier entry whose local header and data this one's directory record points at. */
  readonly sharesDataOf?: number;
}

/** A zip whose central directory says exactly what the entries say, true or not. */
export function writeZip(entries: readonly ZipEntry[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const offsets: number[] = [];
  let pos = 0;
  const push = (b: Uint8Array): void => {
    chunks.push(b);
    pos += b.length;
  };
  entries.forEach((e, i) => {
    if (e.sharesDataOf !== undefined) {
      offsets[i] = offsets[e.sharesDataOf]!;
      return;
    }
    offsets[i] = pos;
    const name = enc.encode(e.name);
    const h = new DataView(new ArrayBuffer(30));
    h.setUint32(0, 0x04034b50, true);
    h.setUint16(4, 20, true);
    h.setUint16(8, e.deflated ? 8 : 0, true);
    h.setUint32(14, e.crc, true);
    h.setUint32(18, e.data.length, true);
    h.setUint32(22, e.originalSize, true);
    h.setUint16(26, name.length, true);
    push(new Uint8Array(h.buffer));
    push(name);
    push(e.data);
  });
  const cdStart = pos;
  entries.forEach((e, i) => {
    const name = enc.encode(e.name);
    const h = new DataView(new ArrayBuffer(46));
    h.setUint32(0, 0x02014b50, true);
    h.setUint16(4, 20, true);
    h.setUint16(6, 20, true);
    h.setUint16(10, e.deflated ? 8 : 0, true);
    h.setUint32(16, e.crc, true);
    const shared = e.sharesDataOf === undefined ? e : entries[e.sharesDataOf]!;
    h.setUint32(20, shared.data.length, true);
    h.setUint32(24, e.originalSize, true);
    h.setUint16(28, name.length, true);
    h.setUint32(42, offsets[i]!, true);
    push(new Uint8Array(h.buffer));
    push(name);
  });
  const eocd = new DataView(new ArrayBuffer(22));
  eocd.setUint32(0, 0x06054b50, true);
  eocd.setUint16(8, entries.length, true);
  eocd.setUint16(10, entries.length, true);
  eocd.setUint32(12, pos - cdStart, true);
  eocd.setUint32(16, cdStart, true);
  push(new Uint8Array(eocd.buffer));
  const out = new Uint8Array(pos);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A zip entry with true sizes and CRC, stored or deflated. */
export function entry(name: string, data: Uint8Array, deflate: boolean): ZipEntry {
  return {
    name,
    data: deflate ? deflateSync(data) : data,
    deflated: deflate,
    originalSize: data.length,
    crc: crc32(data),
  };
}

/** Deterministic float32 values for a tensor, so that a reader's result can be checked. */
export function tensorValues(spec: TensorSpec, salt: number): Float32Array {
  return Float32Array.from({ length: numel(spec.shape) }, (_, i) => ((i * 7 + salt * 13) % 17) / 8 - 1);
}

/** An honest torch.save zip of `tensors` (one contiguous float32 storage each). */
export function torchZip(
  tensors: readonly TensorSpec[],
  options: { deflate?: boolean; wrap?: string; archive?: string } = {},
): Uint8Array {
  const archive = options.archive ?? 'archive';
  const stored: StoredTensor[] = tensors.map((t, i) => ({
    ...t,
    storage: String(i),
    storageNumel: numel(t.shape),
    offset: 0,
    stride: contiguous(t.shape),
  }));
  const pkl = stateDictPickle(stored, options.wrap);
  return writeZip([
    entry(`${archive}/data.pkl`, pkl, options.deflate ?? false),
    entry(`${archive}/version`, enc.encode('3\n'), false),
    ...tensors.map((t, i) => {
      const v = tensorValues(t, i);
      return entry(`${archive}/data/${i}`, new Uint8Array(v.buffer), options.deflate ?? false);
    }),
  ]);
}

/** An honest safetensors file of `tensors`. */
export function safetensors(tensors: readonly TensorSpec[]): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    const n = numel(t.shape) * 4;
    header[t.key] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  return safetensorsWith(
    header,
    tensors.map((t, i) => tensorValues(t, i)),
    offset,
  );
}

function safetensorsWith(header: unknown, data: readonly Float32Array[], dataBytes: number): Uint8Array {
  const json = enc.encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const d of data) {
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

/** Valid checkpoints for the tensors: zip (stored or deflated, wrapped or not), or safetensors. */
export function validCheckpoint(tensors: readonly TensorSpec[]): fc.Arbitrary<CheckpointCase> {
  return fc.oneof(
    fc
      .record({
        deflate: fc.boolean(),
        wrap: fc.constantFrom(undefined, 'state_dict', 'model_ema'),
        prefix: fc.boolean(),
      })
      .map(({ deflate, wrap, prefix }) => ({
        bytes: torchZip(
          tensors.map((t) => ({ ...t, key: prefix ? `module.${t.key}` : t.key })),
          { deflate, ...(wrap === undefined ? {} : { wrap }), archive: 'weights' },
        ),
        name: 'weights.pt',
        family: 'valid' as const,
      })),
    fc.constant({ bytes: safetensors(tensors), name: 'weights.safetensors', family: 'valid' as const }),
  );
}

/** Valid checkpoints cut off, bit-flipped, with a length overwritten; or with a tensor's shape changed. */
export function mutatedCheckpoint(tensors: readonly TensorSpec[]): fc.Arbitrary<CheckpointCase> {
  const reshaped = fc
    .tuple(
      fc.nat({ max: tensors.length - 1 }),
      fc.constantFrom([0], [7, 5], [1, 1, 1, 1, 1, 1], [], [3, 0, 7]),
    )
    .map(([i, shape]) => tensors.map((t, j) => (i === j ? { ...t, shape } : t)));
  return fc.oneof(
    fc.tuple(validCheckpoint(tensors), byteEdits()).map(([c, edits]) => ({
      ...c,
      bytes: applyByteEdits(c.bytes, edits),
      family: 'mutant' as const,
    })),
    fc.tuple(reshaped, fc.boolean()).map(([ts, zip]) => ({
      bytes: zip ? torchZip(ts) : safetensors(ts),
      name: zip ? 'weights.pt' : 'weights.safetensors',
      family: 'mutant' as const,
    })),
  );
}

// ---- hostile pickles: every way a pickle can name or call code ----

const CALLABLES: readonly (readonly [string, string])[] = [
  ['os', 'system'],
  ['posix', 'system'],
  ['nt', 'system'],
  ['builtins', 'eval'],
  ['builtins', 'exec'],
  ['__builtin__', 'eval'],
  ['subprocess', 'Popen'],
  ['builtins', 'getattr'],
  ['builtins', '__import__'],
  ['torch', 'load'],
  ['collections', 'OrderedDict\nos.system'],
  ['torch._utils', '_rebuild_tensor_v2\nos'],
  ['collections', '__proto__'],
  ['collections', 'constructor'],
];

/** The payload: one opcode sequence that would call `module.name('echo pwned')` in Python. */
function payload(kind: string, module: string, name: string): PickleWriter {
  const w = new PickleWriter();
  switch (kind) {
    case 'reduce':
      return w.global(module, name).op(0x28).str('echo pwned').op(0x74, 0x52);
    case 'inst':
      return w.op(0x28).str('echo pwned').raw(`i${module}\n${name}\n`);
    case 'obj':
      return w.op(0x28).global(module, name).str('echo pwned').op(0x6f);
    case 'newobj':
      return w.global(module, name).op(0x28).str('echo pwned').op(0x74, 0x81);
    case 'stack_global': {
      const m = enc.encode(module);
      const n = enc.encode(name);
      return w
        .op(0x8c, m.length, ...m, 0x8c, n.length, ...n, 0x93)
        .op(0x28)
        .str('echo pwned')
        .op(0x74, 0x52);
    }
    case 'build':
      // BUILD on a dict with a __setstate__-like state, then REDUCE through the memo.
      return w.global(module, name).op(0x71, 0).op(0x7d, 0x68, 0, 0x29, 0x52, 0x62);
    default:
      return w.op(0x28).raw(`P${module}\n`).op(0x74);
  }
}

/** Hostile pickles: payloads at the top level or as a state-dict value, bare or inside a zip. */
export const hostileCheckpoint: fc.Arbitrary<CheckpointCase> = fc
  .record({
    callable: fc.constantFrom(...CALLABLES),
    kind: fc.constantFrom('reduce', 'inst', 'obj', 'newobj', 'stack_global', 'build', 'persid'),
    where: fc.constantFrom('top', 'value'),
    inZip: fc.boolean(),
  })
  .map(({ callable: [module, name], kind, where, inZip }) => {
    const p = payload(kind, module, name).bytes();
    const w = new PickleWriter().op(0x80, kind === 'stack_global' ? 4 : 2);
    if (where === 'value') w.op(0x7d).str('stem.weight');
    const body = Uint8Array.from([...w.bytes(), ...p, ...(where === 'value' ? [0x73] : []), 0x2e]);
    return {
      bytes: inZip
        ? writeZip([
            entry('archive/data.pkl', body, false),
            entry('archive/version', enc.encode('3\n'), false),
          ])
        : body,
      name: inZip ? 'weights.pt' : 'weights.pkl',
      family: 'hostile' as const,
    };
  });

// ---- amplifiers: small files that ask for a lot of memory ----

/** Memory each amplifier asks for at most, so that an unbounded reader is caught, not the machine. */
export const AMPLIFIED_BYTES = 1.5 * 2 ** 30;

const zeroStreams = new Map<number, { data: Uint8Array; crc: number }>();
/** A deflate stream of `size` zero bytes and their CRC (made once per size: it takes a moment). */
function zeros(size: number): { data: Uint8Array; crc: number } {
  let z = zeroStreams.get(size);
  if (z === undefined) {
    const raw = new Uint8Array(size);
    z = { data: deflateSync(raw, { level: 1 }), crc: crc32(raw) };
    zeroStreams.set(size, z);
  }
  return z;
}
const zerosDeflated = (size: number): Uint8Array => zeros(size).data;
const crc32Zeros = (size: number): number => zeros(size).crc;

/**
 * Amplifiers for a model with `tensors`; `maxScale` (0..1] sizes them, 1 asking for about
 * AMPLIFIED_BYTES, so CI can run small ones and the campaign full ones. Making them is cheap (a
 * few real bytes, zero streams cached per power-of-two size); only a reader that materialises
 * what they describe pays.
 */
export function amplifyingCheckpoint(
  tensors: readonly TensorSpec[],
  maxScale: number,
): fc.Arbitrary<CheckpointCase> {
  const first = tensors[0]!;
  const maxElements = Math.floor((AMPLIFIED_BYTES * maxScale) / 4);
  const maxLog = Math.max(10, Math.floor(Math.log2(maxElements)));
  return fc
    .record({
      kind: fc.constantFrom(
        'expand-unexpected',
        'expand-expected',
        'alias',
        'overlap',
        'shared-deflate',
        'bomb',
        'lying-size',
      ),
      // Elements per tensor (a power of two) and how many tensors: together at most maxElements.
      log: fc.integer({ min: 4, max: maxLog }),
      copies: fc.integer({ min: 1, max: 2048 }),
    })
    .map(({ kind, log, copies: wanted }): CheckpointCase => {
      const per = 2 ** log;
      const copies = Math.max(1, Math.min(wanted, Math.floor(maxElements / per)));
      const done = (bytes: Uint8Array, name = 'weights.pt'): CheckpointCase => ({
        bytes,
        name,
        family: 'amplifier',
      });
      const one = new Uint8Array(new Float32Array([0.5]).buffer);
      const stored = (
        key: (i: number) => string,
        count: number,
        storage: (i: number) => string,
        storageNumel: number,
        n: number,
      ): StoredTensor[] =>
        Array.from({ length: count }, (_, i) => ({
          key: key(i),
          shape: [n],
          storage: storage(i),
          storageNumel,
          offset: 0,
          stride: [storageNumel === 1 ? 0 : 1],
        }));
      switch (kind) {
        case 'expand-unexpected':
        case 'expand-expected': {
          // torch.zeros(1).expand(n): one element, stride 0, `copies` keys sharing the storage.
          const expected = kind === 'expand-expected';
          const ts = stored(
            (i) => (expected && i === 0 ? first.key : `extra.${i}`),
            copies,
            () => '0',
            1,
            per,
          );
          return done(
            writeZip([
              entry('archive/data.pkl', stateDictPickle(ts), false),
              entry('archive/data/0', one, false),
            ]),
          );
        }
        case 'alias': {
          // The expected tensors, plus `copies` views of one real storage of at most 2^20 elements.
          const n = Math.min(per, 2 ** 20);
          const count = Math.max(1, Math.floor((copies * per) / n));
          const ts: StoredTensor[] = [
            ...tensors.map((t, i) => ({
              ...t,
              storage: `t${i}`,
              storageNumel: numel(t.shape),
              offset: 0,
              stride: contiguous(t.shape),
            })),
            ...stored(
              (i) => `alias.${i}`,
              count,
              () => 'big',
              n,
              n,
            ),
          ];
          return done(
            writeZip([
              entry('archive/data.pkl', stateDictPickle(ts), false),
              ...tensors.map((t, i) =>
                entry(`archive/data/t${i}`, new Uint8Array(tensorValues(t, i).buffer), false),
              ),
              {
                name: 'archive/data/big',
                data: zerosDeflated(n * 4),
                deflated: true,
                originalSize: n * 4,
                crc: crc32Zeros(n * 4),
              },
            ]),
          );
        }
        case 'overlap': {
          // Many safetensors entries over one byte range of at most 2^20 elements.
          const n = Math.min(per, 2 ** 20);
          const count = Math.max(1, Math.floor((copies * per) / n));
          const header: Record<string, unknown> = {};
          for (let i = 0; i < count; i++)
            header[`overlap.${i}`] = { dtype: 'F32', shape: [n], data_offsets: [0, n * 4] };
          return done(safetensorsWith(header, [new Float32Array(n)], n * 4), 'weights.safetensors');
        }
        case 'shared-deflate': {
          // Entries whose directory records all point at one deflate stream of zeros.
          const size = Math.min(per * 4, 2 ** 26);
          const count = Math.max(1, Math.min(64, Math.floor((copies * per * 4) / size)));
          const data = zerosDeflated(size);
          const ts = stored(
            (i) => (i === 0 ? first.key : `shared.${i}`),
            count,
            (i) => String(i),
            size / 4,
            size / 4,
          );
          return done(
            writeZip([
              entry('archive/data.pkl', stateDictPickle(ts), false),
              ...ts.map((_, i) => ({
                name: `archive/data/${i}`,
                data,
                deflated: true,
                originalSize: size,
                crc: crc32Zeros(size),
                ...(i === 0 ? {} : { sharesDataOf: 1 }),
              })),
            ]),
          );
        }
        case 'bomb': {
          // One entry expanding to `size` bytes while its header claims one tensor's worth.
          const size = Math.min(per * 4, 2 ** 26);
          const ts: StoredTensor[] = tensors.map((t, i) => ({
            ...t,
            storage: String(i),
            storageNumel: numel(t.shape),
            offset: 0,
            stride: contiguous(t.shape),
          }));
          return done(
            writeZip([
              entry('archive/data.pkl', stateDictPickle(ts), false),
              {
                name: 'archive/data/0',
                data: zerosDeflated(size),
                deflated: true,
                originalSize: numel(first.shape) * 4,
                crc: 0,
              },
              ...tensors
                .slice(1)
                .map((t, i) =>
                  entry(`archive/data/${i + 1}`, new Uint8Array(tensorValues(t, i + 1).buffer), false),
                ),
            ]),
          );
        }
        default: {
          // Headers that lie: a storage claiming `per` elements backed by four bytes, or a
          // safetensors shape far larger than its byte range.
          const ts = stored(
            () => first.key,
            1,
            () => '0',
            per,
            per,
          );
          return copies % 2 === 0
            ? done(
                writeZip([
                  entry('archive/data.pkl', stateDictPickle(ts), false),
                  { ...entry('archive/data/0', one, false), originalSize: per * 4 },
                ]),
              )
            : done(
                safetensorsWith(
                  { [first.key]: { dtype: 'F32', shape: [per, copies], data_offsets: [0, 4] } },
                  [new Float32Array(1)],
                  4,
                ),
                'weights.safetensors',
              );
        }
      }
    });
}

export function anyCheckpoint(
  tensors: readonly TensorSpec[],
  maxScale: number,
): fc.Arbitrary<CheckpointCase> {
  return fc.oneof(
    { arbitrary: validCheckpoint(tensors), weight: 1 },
    { arbitrary: mutatedCheckpoint(tensors), weight: 6 },
    { arbitrary: hostileCheckpoint, weight: 2 },
    { arbitrary: amplifyingCheckpoint(tensors, maxScale), weight: 1 },
  );
}
