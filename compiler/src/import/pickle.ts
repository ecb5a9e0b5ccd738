import { fail } from '../diagnostics/diagnostic.js';
import type { Dtype } from './tensor.js';

/**
 * A safe unpickler for the `data.pkl` that `torch.save` writes (pickle protocols 2-5).
 *
 * Python's pickle is a little stack machine whose GLOBAL + REDUCE opcodes call arbitrary functions, so a
 * "checkpoint" can run any code when loaded with `pickle.load`. This interpreter never calls anything:
 * it implements only the opcodes a tensor state dict uses, refuses every global that is not on a short
 * allow-list (at the GLOBAL opcode itself, before it could be called), and "calls" the allowed ones by
 * building plain TypeScript data. All reads are bounds-checked, so corrupt input is a diagnostic.
 */

/** A global named by GLOBAL/STACK_GLOBAL that passed the allow-list; only ever a marker. */
export class PickleGlobal {
  readonly module: string;
  readonly name: string;
  constructor(module: string, name: string) {
    this.module = module;
    this.name = name;
  }
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A torch storage named by a persistent id: its bytes live outside the pickle (`data/<key>`). */
export class StorageRef {
  /** null for storage types polyc recognises but cannot import (bool, uint8, ...). */
  readonly dtype: Dtype | null;
  /** The storage class, e.g. `torch.FloatStorage`, for messages. */
  readonly typeName: string;
  readonly key: string;
  readonly numel: number;
  constructor(dtype: Dtype | null, typeName: string, key: string, numel: number) {
    this.dtype = dtype;
    this.typeName = typeName;
    this.key = key;
    this.numel = numel;
  }
}

/** What `torch._utils._rebuild_tensor_v2` would return: a strided view of a storage. */
export class TensorRef {
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  constructor(storage: StorageRef, offset: number, shape: readonly number[], stride: readonly number[]) {
    this.storage = storage;
    this.offset = offset;
    this.shape = shape;
    this.stride = stride;
  }
}

/**
 * Python values as this unpickler represents them: lists and tuples are arrays, dicts and OrderedDicts
 * are Maps (insertion-ordered, and immune to `__proto__`-style keys), ints beyond 2^53 are bigints.
 */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | PickleGlobal
  | StorageRef
  | TensorRef;

/** Storage classes a persistent id may name, with the dtype they hold (null: known, not importable). */
const STORAGE_TYPES: ReadonlyMap<string, Dtype | null> = new Map<string, Dtype | null>([
  ['FloatStorage', 'f32'],
  ['HalfStorage', 'f16'],
  ['BFloat16Storage', 'bf16'],
  ['DoubleStorage', 'f64'],
  ['LongStorage', 'i64'],
  ['IntStorage', 'i32'],
  ['ShortStorage', null],
  ['CharStorage', null],
  ['ByteStorage', null],
  ['BoolStorage', null],
  ['ComplexFloatStorage', null],
  ['ComplexDoubleStorage', null],
]);

type Reducer = (args: PickleValue[], at: number) => PickleValue;

/**
 * The only callables a checkpoint may name, each a pure data constructor. Lookups go through a Map so
 * names like `constructor` or `__proto__` cannot reach Object.prototype.
 */
const REDUCERS: ReadonlyMap<string, Reducer> = new Map<string, Reducer>([
  ['collections.OrderedDict', orderedDict],
  ['torch._utils._rebuild_tensor_v2', rebuildTensor],
  // A Parameter is a tensor plus flags (requires_grad, hooks, state) that mean nothing for inference.
  ['torch._utils._rebuild_parameter', (args, at) => expectTensor(args[0], '_rebuild_parameter', at)],
  [
    'torch._utils._rebuild_parameter_with_state',
    (args, at) => expectTensor(args[0], '_rebuild_parameter', at),
  ],
  ['_codecs.encode', latin1Encode],
]);

function isAllowedGlobal(module: string, name: string): boolean {
  return REDUCERS.has(`${module}.${name}`) || (module === 'torch' && STORAGE_TYPES.has(name));
}

/** The allow-list as a sentence, for the refusal message. */
function allowedList(): string {
  return [...REDUCERS.keys(), 'torch.<dtype>Storage'].join(', ');
}

function malformed(message: string, at: number): never {
  fail('E0604', `malformed pickle at offset ${at}: ${message}`);
}

function orderedDict(args: PickleValue[], at: number): PickleValue {
  // Protocol 2 pickles OrderedDict as OrderedDict() followed by SETITEMS; also accept a list of pairs.
  const out = new Map<PickleValue, PickleValue>();
  const items = args[0];
  if (args.length === 0) return out;
  if (args.length === 1 && Array.isArray(items)) {
    for (const pair of items) {
      if (!Array.isArray(pair) || pair.length !== 2) malformed('OrderedDict item is not a pair', at);
      out.set(pair[0]!, pair[1]!);
    }
    return out;
  }
  return malformed('unexpected OrderedDict arguments', at);
}

function isCount(v: PickleValue | undefined): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function countList(v: PickleValue | undefined, what: string, at: number): number[] {
  if (!Array.isArray(v) || !v.every(isCount))
    malformed(`${what} is not a tuple of non-negative integers`, at);
  return v as number[];
}

function expectTensor(v: PickleValue | undefined, fn: string, at: number): TensorRef {
  if (!(v instanceof TensorRef)) malformed(`${fn} expects a tensor`, at);
  return v;
}

/**
 * Protocol 2 (torch.save's default) has no bytes opcode, so pickle writes a `bytes` value b as
 * `_codecs.encode(b.decode('latin1'), 'latin1')`; only that exact form is accepted.
 */
function latin1Encode(args: PickleValue[], at: number): PickleValue {
  const [s, encoding] = args;
  if (args.length !== 2 || typeof s !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
    malformed("_codecs.encode is only accepted as (str, 'latin1'), the way pickle writes bytes", at);
  }
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) malformed('_codecs.encode string is not latin1', at);
    out[i] = c;
  }
  return out;
}

/** `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])` */
function rebuildTensor(args: PickleValue[], at: number): PickleValue {
  const [storage, offset, size, stride] = args;
  if (args.length < 4 || !(storage instanceof StorageRef)) {
    malformed('_rebuild_tensor_v2 expects (storage, offset, size, stride, ...)', at);
  }
  if (!isCount(offset)) malformed('tensor storage offset is not a non-negative integer', at);
  const shape = countList(size, 'tensor size', at);
  const strides = countList(stride, 'tensor stride', at);
  if (shape.length !== strides.length) malformed('tensor size and stride differ in length', at);
  return new TensorRef(storage, offset, shape, strides);
}

/** torch.save's persistent id for a storage: ('storage', storage_type, key, location, numel). */
function persistentLoad(pid: PickleValue | undefined, at: number): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
    malformed('unsupported persistent id (expected a torch storage reference)', at);
  }
  const [, type, key, , numel] = pid;
  if (!(type instanceof PickleGlobal) || type.module !== 'torch' || !STORAGE_TYPES.has(type.name)) {
    malformed('persistent id does not name a torch storage type', at);
  }
  if (typeof key !== 'string' || !isCount(numel)) malformed('bad storage key or size in persistent id', at);
  return new StorageRef(STORAGE_TYPES.get(type.name) ?? null, type.qualifiedName, key, numel);
}

/** Bounds-checked cursor over the pickle bytes. */
class Reader {
  pos = 0;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number): number {
    const at = this.pos;
    if (n > this.bytes.length - at) {
      fail(
        'E0604',
        `pickle data is truncated: needed ${n} more bytes at offset ${at}, file has ${this.bytes.length}`,
      );
    }
    this.pos += n;
    return at;
  }
  u8(): number {
    return this.view.getUint8(this.need(1));
  }
  u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  u64(): number {
    const at = this.pos;
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) malformed(`length ${v} is implausibly large`, at);
    return Number(v);
  }
  f64be(): number {
    return this.view.getFloat64(this.need(8), false);
  }
  take(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }
  /** A newline-terminated ASCII line (GLOBAL's operands). */
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) fail('E0604', `pickle data is truncated: unterminated line at offset ${this.pos}`);
    return latin1(this.take(end - this.pos + 1).subarray(0, -1));
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function utf8String(bytes: Uint8Array, at: number): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return malformed('string is not valid UTF-8', at);
  }
}

/** Python 2 `str` (BINSTRING) and GLOBAL operands: bytes as code points 0-255. */
function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** Little-endian two's-complement integer of LONG1; a number when it fits exactly. */
function decodeLong(bytes: Uint8Array): number | bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  if (bytes.length > 0 && bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

// Opcodes, by the byte pickle uses for them.
const OP = {
  MARK: 0x28, // (
  EMPTY_TUPLE: 0x29, // )
  STOP: 0x2e, // .
  POP: 0x30, // 0
  POP_MARK: 0x31, // 1
  DUP: 0x32, // 2
  BINBYTES: 0x42, // B
  SHORT_BINBYTES: 0x43, // C
  BINFLOAT: 0x47, // G
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  BININT2: 0x4d, // M
  NONE: 0x4e, // N
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  BINSTRING: 0x54, // T
  SHORT_BINSTRING: 0x55, // U
  BINUNICODE: 0x58, // X
  EMPTY_LIST: 0x5d, // ]
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c
  DICT: 0x64, // d
  APPENDS: 0x65, // e
  BINGET: 0x68, // h
  LONG_BINGET: 0x6a, // j
  LIST: 0x6c, // l
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  SETITEMS: 0x75, // u
  EMPTY_DICT: 0x7d, // }
  PROTO: 0x80,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
} as const;

/**
 * Runs a pickle and returns the object it builds. Throws DiagnosticError: E0602 for a global off the
 * allow-list, E0603 for an opcode outside the supported set, E0604 for anything malformed or truncated.
 */
export function unpickle(bytes: Uint8Array): PickleValue {
  const r = new Reader(bytes);
  const stack: PickleValue[] = [];
  // Stack heights at each open MARK; items above the innermost belong to the pending TUPLE/LIST/...
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let at = 0;

  const floor = (): number => marks[marks.length - 1] ?? 0;
  const pop = (): PickleValue => {
    if (stack.length <= floor()) malformed('stack underflow', at);
    return stack.pop()!;
  };
  const top = (): PickleValue => {
    if (stack.length <= floor()) malformed('stack underflow', at);
    return stack[stack.length - 1]!;
  };
  const popMark = (): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) malformed('no MARK to pop to', at);
    return stack.splice(m);
  };
  const get = (i: number): void => {
    if (!memo.has(i)) malformed(`memo entry ${i} was never stored`, at);
    stack.push(memo.get(i)!);
  };
  const put = (i: number): void => {
    memo.set(i, top());
  };
  const dictOf = (v: PickleValue): Map<PickleValue, PickleValue> => {
    if (!(v instanceof Map)) malformed('SETITEM(S) target is not a dict', at);
    return v;
  };
  const listOf = (v: PickleValue): PickleValue[] => {
    if (!Array.isArray(v)) malformed('APPEND(S) target is not a list', at);
    return v;
  };
  const setItems = (d: Map<PickleValue, PickleValue>, kv: PickleValue[]): void => {
    if (kv.length % 2 !== 0) malformed('odd number of items for a dict', at);
    for (let i = 0; i < kv.length; i += 2) d.set(kv[i]!, kv[i + 1]!);
  };

  for (;;) {
    at = r.pos;
    const op = r.u8();
    switch (op) {
      case OP.PROTO: {
        const version = r.u8();
        if (version > 5)
          fail('E0603', `unsupported pickle protocol ${version} at offset ${at} (expected 2 to 5)`);
        break;
      }
      case OP.FRAME:
        r.u64(); // a framing hint for buffered readers; the data is all here already
        break;
      case OP.STOP: {
        if (marks.length > 0 || stack.length !== 1) malformed('STOP with an unbalanced stack', at);
        return stack[0]!;
      }

      case OP.MARK:
        marks.push(stack.length);
        break;
      case OP.POP:
        pop();
        break;
      case OP.POP_MARK:
        popMark();
        break;
      case OP.DUP:
        stack.push(top());
        break;

      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.BININT:
        stack.push(r.i32());
        break;
      case OP.BININT1:
        stack.push(r.u8());
        break;
      case OP.BININT2:
        stack.push(r.u16());
        break;
      case OP.LONG1:
        stack.push(decodeLong(r.take(r.u8())));
        break;
      case OP.BINFLOAT:
        stack.push(r.f64be());
        break;

      case OP.BINUNICODE:
        stack.push(utf8String(r.take(r.u32()), at));
        break;
      case OP.SHORT_BINUNICODE:
        stack.push(utf8String(r.take(r.u8()), at));
        break;
      case OP.BINUNICODE8:
        stack.push(utf8String(r.take(r.u64()), at));
        break;
      case OP.BINSTRING: {
        const n = r.i32();
        if (n < 0) malformed('negative string length', at);
        stack.push(latin1(r.take(n)));
        break;
      }
      case OP.SHORT_BINSTRING:
        stack.push(latin1(r.take(r.u8())));
        break;
      // Copied so the result never aliases (and pins) the whole checkpoint buffer.
      case OP.BINBYTES:
        stack.push(r.take(r.u32()).slice());
        break;
      case OP.SHORT_BINBYTES:
        stack.push(r.take(r.u8()).slice());
        break;

      // Tuples and lists are both arrays here.
      case OP.EMPTY_TUPLE:
      case OP.EMPTY_LIST:
        stack.push([]);
        break;
      case OP.TUPLE:
      case OP.LIST:
        stack.push(popMark());
        break;
      case OP.TUPLE1:
      case OP.TUPLE2:
      case OP.TUPLE3:
        stack.push(Array.from({ length: op - OP.TUPLE1 + 1 }, pop).reverse());
        break;
      case OP.APPEND: {
        const v = pop();
        listOf(top()).push(v);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        const list = listOf(top());
        for (const v of items) list.push(v); // not push(...items): long lists overflow the call stack
        break;
      }
      case OP.EMPTY_DICT:
        stack.push(new Map());
        break;
      case OP.DICT: {
        const d = new Map<PickleValue, PickleValue>();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case OP.SETITEM: {
        const v = pop();
        const k = pop();
        dictOf(top()).set(k, v);
        break;
      }
      case OP.SETITEMS: {
        const kv = popMark();
        setItems(dictOf(top()), kv);
        break;
      }

      case OP.BINPUT:
        put(r.u8());
        break;
      case OP.LONG_BINPUT:
        put(r.u32());
        break;
      case OP.MEMOIZE:
        put(memo.size);
        break;
      case OP.BINGET:
        get(r.u8());
        break;
      case OP.LONG_BINGET:
        get(r.u32());
        break;

      case OP.GLOBAL: {
        const module = r.line();
        const name = r.line();
        stack.push(checkGlobal(module, name, at));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          malformed('STACK_GLOBAL needs two strings', at);
        stack.push(checkGlobal(module, name, at));
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PickleGlobal) || !Array.isArray(args))
          malformed('REDUCE needs a global and a tuple', at);
        const reducer = REDUCERS.get(fn.qualifiedName);
        // Storage classes pass the allow-list only to be named in persistent ids, never to be called.
        if (reducer === undefined)
          fail('E0602', `unsafe pickle: refusing to call ${fn.qualifiedName} (offset ${at})`);
        stack.push(reducer(args, at));
        break;
      }
      case OP.BUILD: {
        // BUILD sets instance attributes (__setstate__). A state dict's OrderedDict carries `_metadata`
        // (module versions) this way, and a Parameter may carry flags; neither affects the weights, so the
        // state is dropped. On anything else BUILD would need real object semantics: refuse.
        pop();
        const target = top();
        if (!(target instanceof Map) && !(target instanceof TensorRef))
          malformed('BUILD on an unsupported object', at);
        break;
      }
      case OP.BINPERSID:
        stack.push(persistentLoad(pop(), at));
        break;

      default: {
        const ch = op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : '';
        fail(
          'E0603',
          `unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${ch} at offset ${at}: ` +
            'only the opcodes of a plain tensor state dict are accepted',
        );
      }
    }
  }
}

function checkGlobal(module: string, name: string, at: number): PickleGlobal {
  if (!isAllowedGlobal(module, name)) {
    fail(
      'E0602',
      `unsafe pickle: refusing to load global ${module}.${name} (offset ${at}); a checkpoint may only ` +
        `reference ${allowedList()}. Nothing from the file was executed. If this is a training checkpoint ` +
        'holding other objects, re-save just the weights (torch.save(model.state_dict(), path)) or convert ' +
        'them to safetensors.',
    );
  }
  return new PickleGlobal(module, name);
}
