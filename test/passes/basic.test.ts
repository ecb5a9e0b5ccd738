import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnalysisContext } from '../../compiler/src/analysis/context.js';
import { randomInput } from '../../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../../compiler/src/driver/run.js';
import { matchCheckpoint, type StateDict } from '../../compiler/src/import/checkpoint.js';
import { interpret, type Tensor } from '../../compiler/src/ir/interpret.js';
import { readModule } from '../../compiler/src/ir/read.js';
import type { Module } from '../../compiler/src/ir/types.js';
import { verifyModule } from '../../compiler/src/ir/verify.js';
import { canonicalize } from '../../compiler/src/passes/canonicalize.js';
import { cse } from '../../compiler/src/passes/cse.js';
import { dce } from '../../compiler/src/passes/dce.js';
import type { Pass } from '../../compiler/src/passes/pass.js';
import { findPass } from '../../compiler/src/passes/registry.js';
import { buildExample, relError } from '../helpers.js';
import { discoverIrTests } from './ir-test.js';

/**
 * canonicalize, cse and dce beyond their test files (test/passes/<pass>/*.ir, run by
 * ir-files.test.ts): idempotence on those files, and on every example model: the result verifies,
 * computes the same outputs, and a second run changes nothing.
 */

const PASSES = [canonicalize, cse, dce] as const;

const messages = (m: Module): string[] => verifyModule(m).map((d) => d.message);

function runOnce(pass: Pass, m: Module): Module {
  return pass.run(m, new AnalysisContext());
}

/** A test file's module (its `//` lines are RUN and CHECK lines, which the reader does not take). */
const readTestModule = (file: string): Module => readModule(readFileSync(file, 'utf8'), file);

describe.each(PASSES)('$name: test files', (pass) => {
  it.each(discoverIrTests(`test/passes/${pass.name}`))('is idempotent on %s', (file) => {
    const output = runOnce(pass, readTestModule(file));
    // A second run finds nothing to do and returns the very same module object.
    expect(runOnce(pass, output)).toBe(output);
  });
});

describe('registry', () => {
  it.each(PASSES)('registers $name', (pass) => {
    expect(findPass(pass.name)).toBe(pass);
    expect(pass.summary).not.toMatch(/\n/);
  });
});

describe('unchanged modules are returned as they are', () => {
  const m = readTestModule('test/passes/dce/nothing-dead.ir');
  it.each(PASSES)('$name', (pass) => {
    expect(runOnce(pass, m)).toBe(m);
  });
});

describe('dce', () => {
  it('lets a full checkpoint load into the optimised module', () => {
    const m = readTestModule('test/passes/dce/unused-chain.ir');
    const out = runOnce(dce, m);
    const params = (x: Module) =>
      x.ops.flatMap((o) => (o.op === 'param' ? [{ key: o.attrs.key, shape: o.type.shape as number[] }] : []));
    expect(params(out).map((p) => p.key)).toEqual(['conv.weight']);
    const sd: StateDict = new Map(
      [...params(m), { key: 'bn.num_batches_tracked', shape: [] }].map(({ key, shape }) => [
        key,
        { dtype: 'f32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) },
      ]),
    );
    expect(() => matchCheckpoint(params(m), m.ignoredKeys, sd)).not.toThrow();
    expect([...matchCheckpoint(params(out), out.ignoredKeys, sd).weights.keys()]).toEqual(['conv.weight']);
  });
});

const EXAMPLES = readdirSync('examples')
  .filter((f) => f.endsWith('.poly'))
  .sort();

describe.each(EXAMPLES)('examples/%s', (file) => {
  let m: Module;
  let weights: Map<string, Float32Array>;
  let x: Tensor;
  let reference: Tensor[];
  beforeAll(() => {
    m = buildExample(`examples/${file}`, {
      init_channels: '16',
      num_classes: '10',
      image_size: file === 'cpolynext_lr.poly' ? '32' : '64',
    });
    weights = syntheticWeights(m);
    const input = m.ops.find((o) => o.op === 'input')!;
    x = randomInput(input.type.shape.map((d) => (typeof d === 'number' ? d : 2)));
    reference = interpret(m, [x], weights);
  });

  it.each(PASSES)('$name keeps it valid and equivalent, and is idempotent', (pass) => {
    const out = runOnce(pass, m);
    expect(messages(out)).toEqual([]);
    const actual = interpret(out, [x], weights);
    expect(actual.length).toBe(reference.length);
    actual.forEach((y, i) => {
      expect(y.shape).toEqual(reference[i]!.shape);
      expect(relError(y.data, reference[i]!.data)).toBeLessThanOrEqual(1e-5);
    });
    expect(runOnce(pass, out)).toBe(out);
  });

  it('canonicalize, cse, dce together keep it equivalent and shrink it', () => {
    const out = PASSES.reduce((acc, p) => runOnce(p, acc), m);
    expect(messages(out)).toEqual([]);
    expect(out.ops.length).toBeLessThanOrEqual(m.ops.length);
    const actual = interpret(out, [x], weights);
    actual.forEach((y, i) => {
      expect(relError(y.data, reference[i]!.data)).toBeLessThanOrEqual(1e-5);
    });
    for (const p of PASSES) expect(runOnce(p, out), p.name).toBe(out);
  });
});
