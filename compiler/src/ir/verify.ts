import { type Diagnostic, error, InternalError } from '../diagnostics/diagnostic.js';
import { type AttrRule, arity, axisAttrs, opInfo } from './ops.js';
import { formatType, inferType } from './shapes.js';
import { LAYOUTS, type Module, OP_KINDS, type Op, type TensorType, type ValueId } from './types.js';

/**
 * Checks the IR invariants every pass relies on and returns one E0802 diagnostic per problem (empty
 * when the module is fine). It must not throw on malformed input: modules read from text or built by a
 * buggy pass can hold anything, so each check guards the ones after it (e.g. shapes are only inferred
 * once attrs, operands and operand types are known to be well-formed).
 */
export function verifyModule(m: Module): Diagnostic[] {
  const problems: Diagnostic[] = [];
  const paramKeys = new Map<string, ValueId>();
  const defined = verifyOps(m.ops, m.batch, null, paramKeys, problems);
  for (const x of m.outputs) {
    if (!defined.has(x)) problems.push(error('E0802', `module output %${x} is not defined`));
  }
  return problems;
}

/**
 * Verifies a straight-line op list: the module's, or a fused op's region (`region` gives the
 * operand types its `arg` ops must match, and which values of the operands are constant-derived).
 * Returns the ops defined, by id.
 */
function verifyOps(
  ops: readonly Op[],
  batch: string,
  region: { readonly operandTypes: readonly TensorType[]; readonly constOperands: readonly boolean[] } | null,
  paramKeys: Map<string, ValueId>,
  problems: Diagnostic[],
): Map<ValueId, Op> {
  const where = region ? ' (in a fused region)' : '';
  const report = (op: Op, message: string): void => {
    problems.push(error('E0802', `%${op.id} = ${op.op}${where}: ${message}`, op.loc ?? undefined));
  };

  const allIds = new Set(ops.map((op) => op.id));
  /** Ops seen so far by id: in a straight-line list, exactly the values that dominate the current op. */
  const defined = new Map<ValueId, Op>();
  /** Values whose recorded type is well-formed, so that they can feed type inference. */
  const typed = new Set<ValueId>();
  /** Values computed from param and const ops alone: the only values non-polynomial ops may touch. */
  const constDerived = new Set<ValueId>();

  for (const op of ops) {
    if (!Number.isInteger(op.id) || op.id < 0) report(op, 'value ids must be non-negative integers');
    else if (defined.has(op.id)) report(op, `value %${op.id} is defined twice`);

    if (!(OP_KINDS as readonly string[]).includes(op.op)) {
      report(op, `unknown op kind '${op.op}'`);
      defined.set(op.id, op);
      continue;
    }

    const typeOk = checkType(op.type, batch, (msg) => report(op, msg));
    if (typeOk && op.type.layout !== undefined) checkLayout(op, region !== null, (msg) => report(op, msg));
    if (typeOk) typed.add(op.id);
    const attrsOk = checkAttrs(op, (msg) => report(op, msg));

    const [min, max] = arity(op.op);
    const arityOk = op.operands.length >= min && op.operands.length <= max;
    if (!arityOk) {
      const want = min === max ? `${min}` : `${min} to ${max}`;
      report(op, `takes ${want} operand${max === 1 ? '' : 's'}, got ${op.operands.length}`);
    }
    let operandsOk = true;
    for (const x of op.operands) {
      if (defined.has(x)) continue;
      operandsOk = false;
      report(op, allIds.has(x) ? `uses %${x} before it is defined` : `uses undefined value %${x}`);
    }

    let inferable = arityOk && attrsOk && typeOk && operandsOk;
    const x = op.operands[0] === undefined ? undefined : defined.get(op.operands[0]);
    if (attrsOk && x && typed.has(x.id) && !checkAxes(op, x.type.shape.length, (msg) => report(op, msg))) {
      inferable = false;
    }
    switch (op.op) {
      case 'input':
        inferable = false;
        if (region) report(op, `'input' may not appear inside a fused region`);
        break;
      case 'param': {
        inferable = false;
        if (region) report(op, `parameters enter a fused region as operands, not as 'param' ops`);
        constDerived.add(op.id);
        const first = attrsOk ? paramKeys.get(op.attrs.key) : undefined;
        if (first !== undefined)
          report(op, `checkpoint key ${JSON.stringify(op.attrs.key)} already used by %${first}`);
        else if (attrsOk) paramKeys.set(op.attrs.key, op.id);
        break;
      }
      case 'arg': {
        inferable = false;
        if (!region) report(op, `'arg' may only appear inside a fused region`);
        else if (attrsOk) {
          const t = region.operandTypes[op.attrs.index];
          if (t === undefined) report(op, `the fused op has no operand ${op.attrs.index}`);
          else if (typeOk && !sameShape(t, op.type)) {
            report(
              op,
              `records type ${formatType(op.type)} but operand ${op.attrs.index} is ${formatType(t)}`,
            );
          }
          if (region.constOperands[op.attrs.index]) constDerived.add(op.id);
        }
        break;
      }
      case 'fused': {
        if (region) {
          report(op, 'fused regions do not nest');
          inferable = false;
        } else if (attrsOk && operandsOk) {
          const body = op.attrs.body;
          const inner = verifyOps(
            body.ops,
            batch,
            {
              operandTypes: op.operands.map((x) => defined.get(x)!.type),
              constOperands: op.operands.map((x) => constDerived.has(x)),
            },
            paramKeys,
            problems,
          );
          if (!inner.has(body.result)) {
            report(op, `region result %${body.result} is not defined in the region`);
            inferable = false;
          }
        } else inferable = false;
        break;
      }
      case 'const':
        inferable = false;
        constDerived.add(op.id);
        if (typeOk && op.type.shape.length !== 0)
          report(op, `a const must have shape [], got ${formatType(op.type)}`);
        break;
      case 'pow':
        if (attrsOk && !(Number.isInteger(op.attrs.exponent) && op.attrs.exponent >= 1)) {
          report(op, `exponent must be a positive integer, got ${op.attrs.exponent}`);
          inferable = false;
        }
        break;
      case 'sigmoid': {
        const data = op.operands.find((x) => !constDerived.has(x));
        if (operandsOk && data !== undefined) {
          report(op, `non-polynomial function applied to %${data}, which depends on the model input`);
        }
        break;
      }
      default:
        break;
    }
    if (op.operands.length > 0 && op.operands.every((x) => constDerived.has(x))) constDerived.add(op.id);

    if (inferable && op.operands.every((x) => typed.has(x))) {
      const operandTypes = op.operands.map((x) => defined.get(x)!.type);
      const inferred = inferType(op.op, operandTypes, op.attrs);
      if (!inferred.ok) report(op, inferred.message);
      else if (!sameShape(inferred.type, op.type)) {
        report(op, `records type ${formatType(op.type)} but its operands give ${formatType(inferred.type)}`);
      }
    }
    defined.set(op.id, op);
  }
  return defined;
}

/**
 * Throws an `InternalError` listing every problem: for compiler stages whose output must be valid
 * IR (the pass manager after each pass with `verifyEach`). User input goes through `verifyModule`.
 */
export function assertVerified(m: Module, when = ''): void {
  const problems = verifyModule(m);
  if (problems.length === 0) return;
  const lines = problems.map(
    (d) => `  ${d.message}${d.span ? ` (${d.span.file}:${d.span.line}:${d.span.col})` : ''}`,
  );
  throw new InternalError(`invalid IR in module '${m.name}'${when ? ` ${when}` : ''}:\n${lines.join('\n')}`);
}

function sameShape(a: TensorType, b: TensorType): boolean {
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/** Dims are positive integers or the batch name; the batch name may only be axis 0. */
function checkType(t: TensorType, batch: string, report: (msg: string) => void): boolean {
  if (typeof t !== 'object' || t === null || t.dtype !== 'f32' || !Array.isArray(t.shape)) {
    report(`result type must be f32 with a shape, got ${JSON.stringify(t)}`);
    return false;
  }
  let ok = true;
  t.shape.forEach((d, axis) => {
    if (typeof d === 'string') {
      if (d !== batch)
        report(`symbolic dimension '${d}' in ${formatType(t)} is not the batch dimension '${batch}'`);
      else if (axis !== 0)
        report(`batch dimension '${d}' must be axis 0, not axis ${axis} of ${formatType(t)}`);
      ok &&= d === batch && axis === 0;
    } else if (!(Number.isInteger(d) && d >= 1)) {
      report(`dimension ${axis} of ${formatType(t)} must be a positive integer`);
      ok = false;
    }
  });
  return ok;
}

/**
 * A memory layout is recorded on rank-4 module values only: values inside a fused region live in
 * registers, and NCHW is written by leaving the layout out (one spelling per type).
 */
function checkLayout(op: Op, inRegion: boolean, report: (msg: string) => void): void {
  const layout = op.type.layout as string;
  if (!(LAYOUTS as readonly string[]).includes(layout))
    report(`unknown layout '${layout}' (known: ${LAYOUTS.join(', ')}; NCHW is written by omitting it)`);
  else if (op.type.shape.length !== 4)
    report(`layout ${layout} needs a rank-4 value, ${formatType(op.type)} has rank ${op.type.shape.length}`);
  else if (inRegion) report(`values inside a fused region have no layout (${layout})`);
}

/** Axis attributes are stored normalised: each in [0, rank) of the first operand. */
function checkAxes(op: Op, rank: number, report: (msg: string) => void): boolean {
  const given = op.attrs as unknown as Record<string, unknown>;
  let ok = true;
  for (const [key, form] of axisAttrs(op.op)) {
    const axes = (form === 'one' ? [given[key]] : given[key]) as number[];
    for (const a of axes) {
      if (a >= 0 && a < rank) continue;
      const which = form === 'one' ? `${key} ${a}` : `axis ${a} in ${key} [${axes.join(', ')}]`;
      report(`${which} of ${op.op} must be in [0, ${rank}): the IR stores normalised axes`);
      ok = false;
    }
  }
  return ok;
}

function checkAttrs(op: Op, report: (msg: string) => void): boolean {
  const attrs = op.attrs as unknown;
  if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) {
    report('attrs must be an object');
    return false;
  }
  const schema: Readonly<Record<string, AttrRule>> = opInfo(op.op).attrs;
  const given = attrs as Record<string, unknown>;
  let ok = true;
  for (const [key, r] of Object.entries(schema)) {
    if (!Object.hasOwn(given, key)) report(`missing attribute '${key}'`);
    else if (!r.test(given[key]))
      report(`attribute '${key}' must be ${r.what}, got ${JSON.stringify(given[key])}`);
    else continue;
    ok = false;
  }
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(schema, key)) {
      report(`unexpected attribute '${key}'`);
      ok = false;
    }
  }
  return ok;
}
