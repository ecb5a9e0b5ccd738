import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { exportOnnx } from '../../compiler/src/codegen/onnx/export.js';
import { DiagnosticError } from '../../compiler/src/diagnostics/diagnostic.js';
import { randomInput } from '../../compiler/src/driver/random-weights.js';
import { loadWeights, syntheticWeights } from '../../compiler/src/driver/run.js';
import { interpret } from '../../compiler/src/ir/interpret.js';
import {
  buildExample,
  cli,
  EXAMPLE_MODELS,
  goldenMeta,
  goldenSettings,
  readF32File,
  relError,
  smallExample,
} from '../helpers.js';

/**
 * onnxruntime (CPU) is the independent executor: polyc's ONNX export of every example, run by it,
 * must agree with polyc's interpreter to max|d|/max|ref| < 1e-4 at batch 1 and 3.
 */
const { onnx } = onnxProto;
const dir = mkdtempSync(join(tmpdir(), 'polyc-onnx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const small = smallExample;

async function runOrt(
  bytes: Uint8Array,
  input: { shape: number[]; data: Float32Array },
): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ image: new ort.Tensor('float32', input.data, input.shape) });
  return out.logits!.data as Float32Array;
}

const opTypes = new Set<string>();

describe('ONNX export agrees with the interpreter under onnxruntime', () => {
  for (const name of EXAMPLE_MODELS) {
    it(name, async () => {
      const { module, size } = small(name);
      const weights = syntheticWeights(module);
      const bytes = exportOnnx(module, weights);
      const model = onnx.ModelProto.decode(bytes);
      expect(onnx.ModelProto.verify(model)).toBeNull();
      for (const n of model.graph!.node!) {
        expect(n.name, 'every node is named').toMatch(/\S/);
        opTypes.add(n.opType ?? '');
      }
      expect(model.graph!.input![0]!.type!.tensorType!.shape!.dim![0]!.dimParam).toBe('batch');
      const keys = new Set(model.graph!.initializer!.map((t) => t.name));
      for (const k of weights.keys()) expect(keys).toContain(k);
      for (const batch of [1, 3]) {
        const input = randomInput([batch, 3, size, size], 10 + batch);
        const [ref] = interpret(module, [input], weights);
        const got = await runOrt(bytes, input);
        const err = relError(got, ref!.data);
        expect(err, `${name} batch ${batch}`).toBeLessThan(1e-4);
      }
    });
  }

  it('uses only this pinned set of standard operators', () => {
    expect([...opTypes].sort()).toEqual([
      'Add',
      'Conv',
      'Div',
      'Gather',
      'Gemm',
      'Identity',
      'MatMul',
      'Max',
      'Mul',
      'Pow',
      'ReduceL1',
      'ReduceMean',
      'Reshape',
      'Sigmoid',
      'Slice',
      'Sqrt',
      'Sub',
      'Transpose',
    ]);
  });

  it('names nodes after DSL blocks and keeps source locations', () => {
    const { module } = small('apolynext_t');
    const model = onnx.ModelProto.decode(exportOnnx(module, syntheticWeights(module)));
    const names = model.graph!.node!.map((n) => n.name ?? '');
    expect(names.some((n) => n.startsWith('cells.10.ops.0.1/poly_attn/MatMul_'))).toBe(true);
    expect(names.some((n) => n.startsWith('cells.0/poly_conv/Gather_'))).toBe(true);
    expect(new Set(names).size).toBe(names.length);
    for (const n of model.graph!.node!) expect(n.docString).toMatch(/\.poly:\d+:\d+$/);
  });

  it('every supported opset runs', async () => {
    const { module, size } = small('apolynext_t');
    const weights = syntheticWeights(module);
    const input = randomInput([2, 3, size, size], 5);
    const [ref] = interpret(module, [input], weights);
    for (const opset of [13, 15, 17]) {
      expect(relError(await runOrt(exportOnnx(module, weights, { opset }), input), ref!.data)).toBeLessThan(
        1e-4,
      );
    }
  });
});

describe('golden cases through polyc export-onnx and onnxruntime', () => {
  for (const [name, example] of [
    ['cpolynext_lr_small', 'cpolynext_lr'],
    ['apolynext_s_small', 'apolynext_s'],
  ] as const) {
    it(name, async () => {
      const meta = goldenMeta(name);
      const out = join(dir, `${name}.onnx`);
      const r = await cli(
        'export-onnx',
        `examples/${example}.poly`,
        ...goldenSettings(meta),
        '--weights',
        `test/golden/${name}/${meta.weights}`,
        '-o',
        out,
      );
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const input = { shape: meta.input_shape, data: readF32File(`test/golden/${name}/input.f32`) };
      const got = await runOrt(new Uint8Array(readFileSync(out)), input);
      const err = relError(got, readF32File(`test/golden/${name}/expected.f32`));
      console.log(`${name} via onnxruntime: max rel error ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-4);
    });
  }

  it('the loaded checkpoint is embedded under its own keys', () => {
    const { module } = { module: buildExample('examples/cpolynext_lr.poly', { init_channels: '16' }) };
    const w = loadWeights(
      module,
      new Uint8Array(readFileSync('test/golden/cpolynext_lr_small/weights.pt')),
      'weights.pt',
    );
    const model = onnx.ModelProto.decode(exportOnnx(module, w));
    const stem = model.graph!.initializer!.find((t) => t.name === 'stem.weight')!;
    expect(stem.dims!.map(Number)).toEqual([16, 3, 3, 3]);
    expect(new Float32Array(new Uint8Array(stem.rawData!).buffer)[0]).toBe(w.get('stem.weight')![0]);
  });
});

describe('bad input', () => {
  it('an unsupported opset is a coded error and writes nothing', async () => {
    const out = join(dir, 'bad-opset.onnx');
    const r = await cli('export-onnx', 'examples/cpolynext_lr.poly', '-o', out, '--opset', '9');
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[E0901]');
    expect(existsSync(out)).toBe(false);
  });

  it('an op without an ONNX form is a coded error', () => {
    const { module } = small('cpolynext_lr');
    const weights = syntheticWeights(module);
    const future = {
      ...module,
      ops: module.ops.map((o, i) => (i === 5 ? ({ ...o, op: 'fused_poly_mlp' } as unknown as typeof o) : o)),
    };
    try {
      exportOnnx(future, weights);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DiagnosticError);
      expect((e as DiagnosticError).diagnostics[0]!.code).toBe('E0902');
      expect((e as DiagnosticError).message).toContain('fused_poly_mlp');
    }
  });

  it('a failed export leaves no partial file', async () => {
    const out = join(dir, 'no-such-dir', 'model.onnx');
    const r = await cli('export-onnx', 'examples/cpolynext_lr.poly', '--set', 'init_channels=16', '-o', out);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[E0704]');
    expect(existsSync(join(dir, 'no-such-dir'))).toBe(false);
  });

  it('without --weights it warns that the weights are random', async () => {
    const out = join(dir, 'random.onnx');
    const r = await cli('export-onnx', 'examples/cpolynext_lr.poly', '--set', 'init_channels=16', '-o', out);
    expect(r.code).toBe(0);
    expect(r.err).toContain('random weights');
    expect(existsSync(out)).toBe(true);
  });
});
