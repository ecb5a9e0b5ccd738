import fc from 'fast-check';
import {
  amplifyingCheckpoint,
  type CheckpointCase,
  entry,
  stateDictPickle,
  writeZip,
} from './arbitraries/checkpoint.js';
import { npyFile } from './arbitraries/npy.js';
import type { PolyCase } from './arbitraries/poly.js';
import { tinyTensors } from './targets.js';

/**
 * The minimal (shrunk) inputs of every failure the fuzzers found, as regression cases. Those that
 * fail fast run in process (regressions.test.ts); those that ran for seconds or without end on the
 * compiler they were found on (`SLOW_*`) run in the campaign's workers under a time-out
 * (campaign.test.ts), so a regression cannot stall the test suite.
 */

const model = (body: string, setting = 'n: int = 1'): string =>
  `model m(x: f32[B, 2], ${setting}) {\n  ${body}\n  return x * 2\n}\n`;

const nested = (open: string, inner: string, close: string, depth: number): string =>
  `const A = ${open.repeat(depth)}${inner}${close.repeat(depth)}\n${model('assert A == A')}`;

/**
 * Fast failures of .poly programs: stack overflows and RangeErrors instead of diagnostics. Each now
 * ends in a diagnostic, except where `ends` says 'ok': operator chains are evaluated iteratively, so
 * a long sum is simply computed.
 */
export const KNOWN_POLY: readonly (PolyCase & { readonly found: string; readonly ends?: 'ok' })[] = [
  { found: 'stack overflow: 1,000 nested parentheses', text: nested('(', '1', ')', 1000), settings: {} },
  { found: 'stack overflow: nested lists', text: nested('[', '1', ']', 2000), settings: {} },
  { found: 'stack overflow: nested calls', text: nested('max(1, ', '1', ')', 2000), settings: {} },
  {
    found: 'stack overflow: chained indexing',
    text: `const A = [1]${'[0]'.repeat(5000)}\n${model('assert A == A')}`,
    settings: {},
  },
  {
    found: 'stack overflow: chained ^',
    text: `const A = ${'1 ^ '.repeat(5000)}1\n${model('assert A == A')}`,
    settings: {},
  },
  {
    found: 'stack overflow: chained +',
    text: `const A = ${'1 + '.repeat(10_000)}1\n${model('assert A == 10001')}`,
    settings: {},
    ends: 'ok',
  },
  { found: 'stack overflow: unary minus', text: nested('-', '1', '', 10_000), settings: {} },
  { found: 'stack overflow: not', text: nested('not ', 'true', '', 10_000), settings: {} },
  {
    found: 'stack overflow: nested if statements',
    text: `block f(x: int) {\n${'if true {\n'.repeat(3000)}x = 1\n${'}\n'.repeat(3000)}return x\n}\nconst A = f(1)\n${model('assert A == A')}`,
    settings: {},
  },
  {
    found: 'Invalid array length: a setting past 2^53 as a loop bound',
    text: model('for i in 0 .. n { t = i }'),
    settings: { n: '99999999999999999999' },
  },
  {
    found: 'Invalid array length: loop to 2^32',
    text: model('for i in 0 .. 4294967296 { t = i }'),
    settings: {},
  },
  { found: 'Invalid array length: list repetition', text: model('r = len([0] * 4294967296)'), settings: {} },
  { found: 'Invalid array length: range', text: model('r = len(range(4294967296))'), settings: {} },
  {
    found: 'Invalid string length: string doubling',
    text: model('s = "ab"\n  for i in 0 .. 64 { s = s + s }'),
    settings: {},
  },
];

/** .poly programs that ran for many seconds or forever (exponential work, billions of iterations). */
export const SLOW_POLY: readonly (PolyCase & { readonly found: string })[] = [
  {
    found: 'exponential recursion within the nesting limit',
    text: `block f(n: int) {\n  if n > 0 {\n    a = f(n - 1)\n    b = f(n - 1)\n  }\n  return 0\n}\n${model('r = f(40)')}`,
    settings: {},
  },
  // Aborts the whole process (V8 out of memory) instead of throwing: only a worker survives it.
  {
    found: 'list doubling exhausts the heap',
    text: model('l = [1]\n  for i in 0 .. 64 { l = l + l }'),
    settings: {},
  },
  {
    found: 'a billion loop iterations',
    text: model('for i in 0 .. n { t = i }'),
    settings: { n: '1000000000' },
  },
  { found: 'range of a billion', text: model('r = len(range(n))'), settings: { n: '1000000000' } },
  {
    found: 'a million-layer network',
    text: 'import "lib/polynext.poly"\nmodel m(image: f32[B, 3, 16, 16], layers: int = 2) {\n  return polynext(self, image, PolyNeXt_LowRes, 4, layers, 10, attn=false, kind="ln")\n}\n',
    settings: { layers: '1000000' },
  },
];

/** IR texts the reader or verifier overflowed its stack on. */
export const KNOWN_IR: readonly { readonly found: string; readonly text: string }[] = [
  {
    found: 'stack overflow: 5,000-deep attribute',
    text: `module m batch B {\n  %0 = input {name="x"} : f32[B,2]\n  %1 = reshape(%0) {shape=${'['.repeat(5000)}2${']'.repeat(5000)}} : f32[B,2]\n  return %1\n}\n`,
  },
  {
    found: 'stack overflow: 5,000 nested regions',
    text: `module m batch B {\n  %0 = input {name="x"} : f32[B,2]\n${'  %1 = fused(%0) {kind="norm"} : f32[B,2] {\n    %0 = arg {index=0} : f32[B,2]\n'.repeat(5000)}${'    yield %0\n  }\n'.repeat(5000)}  return %1\n}\n`,
  },
];

/** `polyc run` inputs that crashed the .npy reader. */
export const KNOWN_NPY: readonly {
  readonly found: string;
  readonly bytes: Uint8Array;
  readonly shape: null;
}[] = [
  {
    found: 'DataView out of bounds: the magic alone',
    bytes: Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]),
    shape: null,
  },
  {
    found: 'DataView out of bounds: magic and version, no header length',
    bytes: Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118]),
    shape: null,
  },
  {
    found: 'Invalid DataView length: a negative dimension',
    bytes: npyFile(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, -3, 4), }",
      new Uint8Array(48 * 4),
    ),
    shape: null,
  },
  {
    found: 'a fractional batch accepted, then the interpreter crashes',
    bytes: npyFile(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5, 3, 4, 4), }",
      new Uint8Array(72 * 4),
    ),
    shape: null,
  },
];

/** Checkpoints that took seconds and gigabytes: tensors materialised before their keys are checked. */
export function slowCheckpoints(): (CheckpointCase & { readonly found: string })[] {
  const tensors = tinyTensors();
  // torch.zeros(1).expand(1 << 20) under 256 unexpected keys: 1 GiB if materialised.
  const expand = Array.from({ length: 256 }, (_, i) => ({
    key: `extra.${i}`,
    shape: [1 << 20],
    storage: '0',
    storageNumel: 1,
    offset: 0,
    stride: [0],
  }));
  const one = new Uint8Array(new Float32Array([0.5]).buffer);
  return [
    {
      found: 'expanded storage under many unexpected keys',
      family: 'amplifier',
      name: 'weights.pt',
      bytes: writeZip([
        entry('archive/data.pkl', stateDictPickle(expand), false),
        entry('archive/data/0', one, false),
      ]),
    },
    // One of each amplifier at full size (~1.5 GB asked for), as the campaign makes them.
    ...fc
      .sample(amplifyingCheckpoint(tensors, 1), { seed: 14, numRuns: 12 })
      .map((c, i) => ({ ...c, found: `amplifier ${i}` })),
  ];
}
