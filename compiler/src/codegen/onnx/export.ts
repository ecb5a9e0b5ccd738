import onnxProto from 'onnx-proto';
import { fail, InternalError } from '../../diagnostics/diagnostic.js';
import { onnxOperator } from '../../ir/ops.js';
import type { Module, Op } from '../../ir/types.js';

const { onnx } = onnxProto;
type Attr = onnxProto.onnx.IAttributeProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;

/**
 * ONNX export: every IR op becomes standard ONNX operators that compute exactly what the
 * interpreter computes (LayerNorm's clamped E[x^2]-E[x]^2 variance, the channel flip, the L1
 * normalisation, ChannelBatchNorm's constants). Weights become initializers named by their
 * checkpoint keys; node names follow the DSL block that created them, and `doc_string` holds the
 * source location. The batch dimension is the symbolic `batch`.
 */

export const ONNX_OPSETS = { min: 13, max: 17, default: 17 } as const;
const IR_VERSION = 8;
const BATCH = 'batch';

export interface OnnxExportOptions {
  readonly opset?: number;
  /** Stored in the model's metadata, e.g. the source file and settings. */
  readonly docString?: string;
}

/** Throws E0901 unless polyc can target `opset`. */
export function checkOpset(opset: number): void {
  if (!Number.isInteger(opset) || opset < ONNX_OPSETS.min || opset > ONNX_OPSETS.max) {
    fail('E0901', `ONNX opset ${opset} is not supported; use ${ONNX_OPSETS.min} to ${ONNX_OPSETS.max}`);
  }
}

export function exportOnnx(
  m: Module,
  weights: ReadonlyMap<string, Float32Array>,
  options: OnnxExportOptions = {},
): Uint8Array {
  const opset = options.opset ?? ONNX_OPSETS.default;
  checkOpset(opset);
  const g = new GraphBuilder(m.ops, opset);
  for (const op of m.ops) g.lower(op, weights);
  const outputs = m.outputs.map((id, i) => {
    const name = m.outputs.length === 1 ? 'logits' : `output_${i}`;
    g.node('Identity', [g.name(id)], [name], {}, g.opName(opOf(m, id), 'output'), opOf(m, id));
    return valueInfo(name, opOf(m, id));
  });
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'polyc',
    producerVersion: '0.1.0',
    docString: options.docString ?? '',
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: m.name,
      node: g.nodes,
      initializer: g.initializers,
      input: m.ops.filter((o) => o.op === 'input').map((o) => valueInfo(o.attrs.name, o)),
      output: outputs,
    },
  });
  const problem = onnx.ModelProto.verify(model);
  if (problem) throw new InternalError(`ONNX model does not verify: ${problem}`);
  return onnx.ModelProto.encode(model).finish();
}

function opOf(m: Module, id: number): Op {
  const op = m.ops.find((o) => o.id === id);
  if (!op) throw new InternalError(`no op %${id}`);
  return op;
}

function valueInfo(name: string, op: Op): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: {
          dim: op.type.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: BATCH })),
        },
      },
    },
  };
}

function ints(name: string, values: readonly number[]): Attr {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...values] };
}

function int(name: string, value: number): Attr {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}

/** What all builders of one graph share: a fused op's region is lowered by a child builder. */
interface Graph {
  readonly nodes: NodeProto[];
  readonly initializers: TensorProto[];
  readonly constants: Map<string, string>;
  readonly nodeNames: Set<string>;
}

class GraphBuilder {
  private readonly g: Graph;
  private readonly names = new Map<number, string>();
  /** The ops operand ids refer to: the module's, or a region's. */
  private readonly scope: Map<number, Op>;

  constructor(
    ops: readonly Op[],
    private readonly opset: number,
    parent?: GraphBuilder,
    /** Prefix of value names, so that region ids never clash with the module's. */
    private readonly prefix = '',
  ) {
    this.g = parent?.g ?? { nodes: [], initializers: [], constants: new Map(), nodeNames: new Set() };
    this.scope = new Map(ops.map((o) => [o.id, o]));
  }

  get nodes(): NodeProto[] {
    return this.g.nodes;
  }

  get initializers(): TensorProto[] {
    return this.g.initializers;
  }

  private typeOf(id: number): readonly (number | string)[] {
    return this.scope.get(id)!.type.shape;
  }

  name(id: number): string {
    const n = this.names.get(id);
    if (n === undefined) throw new InternalError(`value %${id} used before it was lowered`);
    return n;
  }

  /** `<module path>/<block>/<what>_<id>`: reads as the DSL structure in Netron. */
  opName(op: Op, what: string): string {
    const [path, block] = op.scope.split(':');
    const parts = [path, block].filter((p) => p !== undefined && p !== '');
    let name = [...parts, `${what}_${op.id}`].join('/');
    for (let i = 2; this.g.nodeNames.has(name); i++)
      name = `${[...parts, `${what}_${op.id}`].join('/')}_${i}`;
    this.g.nodeNames.add(name);
    return name;
  }

  node(
    type: string,
    inputs: string[],
    outputs: string[],
    attrs: Record<string, Attr>,
    name: string,
    op: Op,
  ): void {
    this.g.nodes.push({
      opType: type,
      input: inputs,
      output: outputs,
      name,
      attribute: Object.values(attrs),
      docString: op.loc ? `${op.loc.file}:${op.loc.line}:${op.loc.col}` : '',
    });
  }

  private floatInit(name: string, dims: readonly number[], data: Float32Array): string {
    const raw = new Uint8Array(data.length * 4);
    const dv = new DataView(raw.buffer);
    data.forEach((v, i) => {
      dv.setFloat32(i * 4, v, true);
    });
    this.g.initializers.push({
      name,
      dims: [...dims],
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: raw,
    });
    return name;
  }

  /** A shared scalar or small constant, created once per value. */
  private constF(value: number): string {
    const key = `f:${Object.is(value, -0) ? '-0' : value}`;
    let n = this.g.constants.get(key);
    if (!n) {
      n = this.floatInit(`const_f32_${this.g.constants.size}`, [], Float32Array.of(value));
      this.g.constants.set(key, n);
    }
    return n;
  }

  private constI64(values: readonly number[]): string {
    const key = `i:${values.join(',')}`;
    let n = this.g.constants.get(key);
    if (!n) {
      n = `const_i64_${this.g.constants.size}`;
      const raw = new Uint8Array(values.length * 8);
      const dv = new DataView(raw.buffer);
      values.forEach((v, i) => {
        dv.setBigInt64(i * 8, BigInt(v), true);
      });
      this.g.initializers.push({
        name: n,
        dims: [values.length],
        dataType: onnx.TensorProto.DataType.INT64,
        rawData: raw,
      });
      this.g.constants.set(key, n);
    }
    return n;
  }

  /** Emits one node whose output is an intermediate of `op`'s lowering. */
  private step(
    op: Op,
    type: string,
    inputs: string[],
    what: string,
    attrs: Record<string, Attr> = {},
    output?: string,
  ): string {
    const out = output ?? `${this.prefix}v${op.id}_${what}`;
    this.node(type, inputs, [out], attrs, this.opName(op, what), op);
    return out;
  }

  /** Reduction over `axes` with keepdims, in the form the opset wants (axes moved to an input). */
  private reduce(
    op: Op,
    type: 'ReduceMean' | 'ReduceSum' | 'ReduceL1',
    x: string,
    axes: readonly number[],
    keep: boolean,
    what: string,
    output?: string,
  ): string {
    const axesAsInput = type === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    const attrs: Record<string, Attr> = { keepdims: int('keepdims', keep ? 1 : 0) };
    if (axesAsInput) return this.step(op, type, [x, this.constI64(axes)], what, attrs, output);
    return this.step(op, type, [x], what, { ...attrs, axes: ints('axes', axes) }, output);
  }

  /** `[C]` -> `[1, C, 1, 1]` so a per-channel vector broadcasts over NCHW. */
  private perChannel(op: Op, v: string, what: string): string {
    return this.step(op, 'Reshape', [v, this.constI64([1, -1, 1, 1])], what);
  }

  lower(op: Op, weights: ReadonlyMap<string, Float32Array>, args: readonly string[] = []): void {
    const x = (i: number) => this.name(op.operands[i]!);
    const out = `${this.prefix}v${op.id}`;
    const single = (type: string, inputs: string[], attrs: Record<string, Attr> = {}) => {
      this.node(type, inputs, [out], attrs, this.opName(op, type), op);
      return out;
    };
    let result: string;
    const standard = onnxOperator(op.op);
    if (standard !== undefined) {
      // One standard operator on the same inputs (ir/ops.ts).
      this.names.set(
        op.id,
        single(
          standard,
          op.operands.map((_, i) => x(i)),
        ),
      );
      return;
    }
    switch (op.op) {
      case 'input':
        result = op.attrs.name;
        break;
      case 'arg':
        result = args[op.attrs.index]!;
        break;
      case 'fused': {
        // ONNX has no regions: the body is inlined, its values renamed into this op's namespace.
        const inner = new GraphBuilder(op.attrs.body.ops, this.opset, this, `${this.prefix}f${op.id}_`);
        const operands = op.operands.map((_, i) => x(i));
        for (const o of op.attrs.body.ops) inner.lower(o, weights, operands);
        result = inner.name(op.attrs.body.result);
        break;
      }
      case 'rsqrt':
        result = single('Div', [this.constF(1), this.step(op, 'Sqrt', [x(0)], 'sqrt')]);
        break;
      case 'param': {
        const w = weights.get(op.attrs.key);
        if (!w) throw new InternalError(`no weights for '${op.attrs.key}'`);
        result = this.floatInit(op.attrs.key, op.type.shape as number[], w);
        break;
      }
      case 'const':
        result = this.constF(op.attrs.value);
        break;
      case 'pow':
        result = single('Pow', [x(0), this.constF(op.attrs.exponent)]);
        break;
      case 'conv2d': {
        const a = op.attrs;
        const w = this.typeOf(op.operands[1]!) as number[];
        result = single('Conv', [x(0), x(1)], {
          kernel_shape: ints('kernel_shape', w.slice(2)),
          strides: ints('strides', a.stride),
          pads: ints('pads', [a.pad[0], a.pad[1], a.pad[0], a.pad[1]]),
          dilations: ints('dilations', a.dilation),
          group: int('group', a.groups),
        });
        break;
      }
      case 'layernorm2d': {
        // (x - u) * 1/sqrt(max(E[x^2] - u^2, 0) + eps) * weight, statistics over channels.
        const u = this.reduce(op, 'ReduceMean', x(0), [1], true, 'mean');
        const ex2 = this.reduce(
          op,
          'ReduceMean',
          this.step(op, 'Mul', [x(0), x(0)], 'sq'),
          [1],
          true,
          'mean_sq',
        );
        const variance = this.step(op, 'Sub', [ex2, this.step(op, 'Mul', [u, u], 'mean2')], 'var');
        const clamped = this.step(op, 'Max', [variance, this.constF(0)], 'var_clamped');
        const std = this.step(
          op,
          'Sqrt',
          [this.step(op, 'Add', [clamped, this.constF(op.attrs.eps)], 'var_eps')],
          'std',
        );
        const centered = this.step(op, 'Sub', [x(0), u], 'centered');
        if (op.operands.length === 1) {
          result = single('Div', [centered, std]);
          break;
        }
        const normed = this.step(op, 'Div', [centered, std], 'normed');
        result = single('Mul', [normed, this.perChannel(op, x(1), 'gain')]);
        break;
      }
      case 'channel_bn': {
        // (x - mean[h,w]) / sqrt(var[h,w] + eps) * gamma_hw[h,w] * gamma_c[c]
        const std = this.step(
          op,
          'Sqrt',
          [this.step(op, 'Add', [x(4), this.constF(op.attrs.eps)], 'var_eps')],
          'std',
        );
        const normed = this.step(op, 'Div', [this.step(op, 'Sub', [x(0), x(3)], 'centered'), std], 'normed');
        const hw = this.step(op, 'Mul', [normed, x(2)], 'gamma_hw');
        result = single('Mul', [hw, this.perChannel(op, x(1), 'gamma_c')]);
        break;
      }
      case 'slice':
        result = single('Slice', [
          x(0),
          this.constI64([op.attrs.start]),
          this.constI64([op.attrs.end]),
          this.constI64([op.attrs.axis]),
        ]);
        break;
      case 'flip': {
        const shape = this.typeOf(op.operands[0]!);
        const axis = op.attrs.axis;
        const n = shape[axis] as number;
        result = single('Gather', [x(0), this.constI64(Array.from({ length: n }, (_, i) => n - 1 - i))], {
          axis: int('axis', axis),
        });
        break;
      }
      case 'reshape':
        // 0 copies the input's dimension: the batch stays symbolic.
        result = single('Reshape', [
          x(0),
          this.constI64(op.attrs.shape.map((d) => (typeof d === 'number' ? d : 0))),
        ]);
        break;
      case 'transpose':
        result = single('Transpose', [x(0)], { perm: ints('perm', op.attrs.perm) });
        break;
      case 'l1norm': {
        const l1 = this.reduce(op, 'ReduceL1', x(0), [op.attrs.axis], true, 'l1');
        result = single('Div', [x(0), this.step(op, 'Max', [l1, this.constF(op.attrs.eps)], 'l1_eps')]);
        break;
      }
      case 'mean':
      case 'sum': {
        const type = op.op === 'mean' ? 'ReduceMean' : 'ReduceSum';
        result = this.reduce(op, type, x(0), op.attrs.axes, op.attrs.keepdims, type, out);
        break;
      }
      case 'linear':
        result = single('Gemm', op.operands.length > 2 ? [x(0), x(1), x(2)] : [x(0), x(1)], {
          transB: int('transB', 1),
        });
        break;
      default: {
        const kind = (op as { op: string }).op;
        fail('E0902', `op '${kind}' (%${(op as Op).id}) has no ONNX form`, (op as Op).loc ?? undefined);
      }
    }
    this.names.set(op.id, result);
  }
}
