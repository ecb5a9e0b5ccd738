import fc from 'fast-check';
import { amplifyingCheckpoint, anyCheckpoint, type CheckpointCase } from '../arbitraries/checkpoint.js';
import { anyIr, type IrCase } from '../arbitraries/ir.js';
import { anyInput, type InputCase } from '../arbitraries/npy.js';
import { anyProgram, type PolyCase, workProgram } from '../arbitraries/poly.js';
import { SLOW_POLY, slowCheckpoints } from '../known.js';
import {
  type Outcome,
  runCheckpoint,
  runIr,
  runNpy,
  runPoly,
  TINY_INPUT,
  TINY_MODEL,
  tinyTensors,
} from '../targets.js';

/**
 * The campaign's generators by name: the four targets at full strength (sizes that only limits
 * stop, amplifiers asking for ~1.5 GB) and two focused subsets (`work`, `amplifier`) that
 * campaign.test.ts runs in CI. Each knows how to run a case and how to write it as files that
 * reproduce it with the CLI.
 */

export interface ReproFile {
  readonly name: string;
  readonly data: string | Uint8Array;
}

export interface Generator<C> {
  readonly arbitrary: () => fc.Arbitrary<C>;
  readonly run: (c: C) => Outcome;
  /** The case as files, and the command that replays it (paths relative to the files' folder). */
  readonly repro: (c: C, stem: string) => { files: ReproFile[]; command: string };
  /** A one-line summary for the report's tables. */
  readonly describe: (c: C) => string;
  /** Fixed cases instead of generated ones: case `index` is `pick(index)` (no shrinking). */
  readonly pick?: (index: number) => C;
}

const clip = (s: string, n = 80): string => {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > n ? `${flat.slice(0, n)}... (${s.length} chars)` : flat;
};

const settingsFlags = (s: Readonly<Record<string, string>>): string =>
  Object.entries(s)
    .map(([k, v]) => ` --set '${k}=${v}'`)
    .join('');

const poly = (arbitrary: () => fc.Arbitrary<PolyCase>): Generator<PolyCase> => ({
  arbitrary,
  run: runPoly,
  repro: (c, stem) => ({
    files: [{ name: `${stem}.poly`, data: c.text }],
    command: `polyc check ${stem}.poly${settingsFlags(c.settings)}`,
  }),
  describe: (c) => `${clip(c.text)}${settingsFlags(c.settings)}`,
});

/** The model the input and checkpoint reproducers run (the targets' tiny model). */
const tinyFile: ReproFile = { name: 'tiny.poly', data: TINY_MODEL };

const ckpt = (arbitrary: () => fc.Arbitrary<CheckpointCase>): Generator<CheckpointCase> => ({
  arbitrary,
  run: runCheckpoint,
  repro: (c, stem) => {
    const ext = c.name.slice(c.name.lastIndexOf('.'));
    return {
      files: [tinyFile, { name: `${stem}${ext}`, data: c.bytes }],
      command: `polyc run tiny.poly --weights ${stem}${ext}`,
    };
  },
  describe: (c) => `${c.family} ${c.name}, ${c.bytes.length} bytes`,
});

const listed = <C>(g: Generator<C>, cases: () => readonly C[]): Generator<C> => {
  let list: readonly C[] | undefined;
  return {
    ...g,
    pick: (index) => {
      list ??= cases();
      return list[index % list.length]!;
    },
  };
};

export const GENERATORS = {
  poly: poly(() => anyProgram(true)),
  ir: {
    arbitrary: () => anyIr,
    run: runIr,
    repro: (c, stem) => ({ files: [{ name: `${stem}.ir`, data: c.text }], command: `polyc opt ${stem}.ir` }),
    describe: (c) => clip(c.text),
  } satisfies Generator<IrCase>,
  npy: {
    arbitrary: () => anyInput(TINY_INPUT),
    run: runNpy,
    repro: (c, stem) => {
      const raw = c.bytes[0] !== 0x93;
      const name = `${stem}${raw ? '.f32' : '.npy'}`;
      const shape = c.shape === null ? '' : ` --input-shape ${c.shape.join(',')}`;
      return {
        files: [tinyFile, { name, data: c.bytes }],
        command: `polyc run tiny.poly --input ${name}${shape}`,
      };
    },
    describe: (c) =>
      `${c.bytes.length} bytes${c.shape ? `, shape ${c.shape.join(',')}` : ''}: ${clip(new TextDecoder().decode(c.bytes.subarray(0, 90)).replace(/[^\x20-\x7e]/g, '.'))}`,
  } satisfies Generator<InputCase>,
  ckpt: ckpt(() => anyCheckpoint(tinyTensors(), 1)),
  work: poly(() => workProgram(true)),
  amplifier: ckpt(() => amplifyingCheckpoint(tinyTensors(), 1)),
  // The known slow reproducers (test/fuzz/known.ts), each case in turn.
  'slow-poly': listed(
    poly(() => workProgram(true)),
    () => SLOW_POLY,
  ),
  'slow-ckpt': listed(
    ckpt(() => amplifyingCheckpoint(tinyTensors(), 1)),
    () => slowCheckpoints(),
  ),
  // The pool's own check (campaign.test.ts): one case of each verdict, in turn.
  selftest: listed(
    {
      arbitrary: () => fc.constantFrom<SelfTest>('ok'),
      run: runSelfTest,
      repro: (c, stem) => ({ files: [{ name: `${stem}.txt`, data: c }], command: `(self-test case ${c})` }),
      describe: (c) => c,
    },
    () => SELF_TESTS,
  ),
} as const;

type SelfTest = 'ok' | 'diagnostic' | 'failure' | 'hang' | 'heap' | 'resident';
const SELF_TESTS: readonly SelfTest[] = ['ok', 'diagnostic', 'failure', 'hang', 'heap', 'resident'];

/** A case that ends each way a case can: the pool must classify each one right. */
function runSelfTest(c: SelfTest): Outcome {
  if (c === 'diagnostic') return { kind: 'diagnostic', codes: ['E0000'], message: 'self-test' };
  if (c === 'failure') return { kind: 'failure', reason: 'internal: Error', message: 'self-test' };
  if (c === 'hang') for (;;);
  if (c === 'heap') {
    // JavaScript objects past the V8 heap limit: the worker dies.
    const hoard: number[][] = [];
    for (;;) hoard.push(new Array(1 << 24).fill(0.5));
  }
  if (c === 'resident') {
    // Typed arrays, outside the V8 heap, touched so that they are resident: the cap stops them.
    const hoard: Uint8Array[] = [];
    for (let i = 0; i < 32; i++) hoard.push(new Uint8Array(64 << 20).fill(1));
    return { kind: 'ok' };
  }
  return { kind: 'ok' };
}

export type GeneratorName = keyof typeof GENERATORS;
export const ALL: readonly GeneratorName[] = ['poly', 'ir', 'npy', 'ckpt'];

export function generator(name: GeneratorName): Generator<unknown> {
  return GENERATORS[name] as Generator<unknown>;
}
