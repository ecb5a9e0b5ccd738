import {
  type Diagnostic,
  DiagnosticError,
  error,
  fail,
  type Note,
  note,
  type Span,
} from '../diagnostics/diagnostic.js';
import { didYouMean } from '../diagnostics/suggest.js';
import { formatType } from '../ir/shapes.js';
import type { Dim, Module } from '../ir/types.js';
import type { Arg, BlockDecl, Decl, Expr, ModelDecl, Param, Stmt } from '../syntax/ast.js';
import { joinSpans } from '../syntax/cst-to-ast.js';
import { IrBuilder, type TensorValue } from './builder.js';
import { BUILTINS, NON_POLYNOMIAL } from './builtins.js';
import { DEFAULT_LIMITS, type Limits, limitNote } from './limits.js';
import { bool, describeKind, equal, float, int, mapKey, safeInt, show, type Value } from './values.js';

/** A setting as given on the command line (`--set name=value`): always text, typed by the model. */
export type Settings = Readonly<Record<string, string>>;

export interface Elaborated {
  readonly module: Module;
  /** The model's compile-time settings after `--set` overrides. */
  readonly settings: Readonly<Record<string, number | boolean | string>>;
}

const MAX_CALL_DEPTH = 64;
/** Eval steps a block call costs besides its body's (see callBlock). */
const BLOCK_CALL_STEPS = 32;

/**
 * How deeply evaluation may nest: expressions and statements, across block calls. The parser bounds
 * nesting within one expression or block body; block calls multiply it, and the evaluator's own
 * recursion would overflow the JavaScript stack at a few thousand levels.
 */
const MAX_EVAL_DEPTH = 250;

/**
 * The largest exponent of `x ^ e` on a tensor. Kernels write powers out as products (WGSL by
 * repeated squaring, with the squared text repeated), so the exponent sizes generated code.
 */
const MAX_TENSOR_POWER = 1024;

/**
 * How deeply lists and maps may nest in one another. A loop can nest them without bound
 * (`l = [l]`), and printing, comparing and map keys recurse into them.
 */
const MAX_LIST_NESTING = 100;

/**
 * Evaluates a program (the declarations of a file and its imports) for one model: runs all
 * compile-time code (config, loops, conditionals, block calls) and records the tensor ops in an IR
 * module. Throws `DiagnosticError` for user errors.
 */
export function elaborate(
  decls: readonly Decl[],
  settings: Settings,
  modelName?: string,
  limits: Limits = DEFAULT_LIMITS,
): Elaborated {
  return new Evaluator(decls, limits).run(settings, modelName);
}

interface Measure {
  readonly depth: number;
  readonly size: number;
}

class Return {
  constructor(readonly value: Value) {}
}

/** Unwinds the current statement when it reads a value whose computation already failed. */
class Poisoned {}

/** Stops the whole evaluation: going on after the step limit would redo the work it bounds. */
class Abort {
  constructor(readonly diagnostic: Diagnostic) {}
}

const POISON: Value = { k: 'poison' };
const MAX_ERRORS = 20;

interface Frame {
  readonly block: string;
  readonly call: Span;
}

class Evaluator {
  private readonly globals = new Map<string, Decl>();
  private readonly globalValues = new Map<string, Value>();
  private readonly evaluating = new Set<string>();
  private readonly stack: Frame[] = [];
  private readonly errors: Diagnostic[] = [];
  private readonly reported = new Set<string>();
  private b: IrBuilder;
  private path = '';
  private steps = 0;
  private depth = 0;
  /** What `measure` found for each list and map it has seen. */
  private readonly measured = new WeakMap<Value, Measure>();

  constructor(
    decls: readonly Decl[],
    private readonly limits: Limits,
  ) {
    this.b = new IrBuilder('B', limits);
    const seen = new Map<string, Span>();
    for (const d of decls) {
      if (d.kind === 'import') continue;
      const prev = seen.get(d.name.name);
      if (prev) {
        fail('E0202', `'${d.name.name}' is defined twice`, d.name.span, [note('first defined here', prev)]);
      }
      seen.set(d.name.name, d.name.span);
      this.globals.set(d.name.name, d);
    }
  }

  run(given: Settings, modelName?: string): Elaborated {
    try {
      return this.runModel(given, modelName);
    } catch (e) {
      if (e instanceof Abort) throw new DiagnosticError([...this.errors, e.diagnostic]);
      throw e;
    }
  }

  private runModel(given: Settings, modelName?: string): Elaborated {
    const models = [...this.globals.values()].filter((d): d is ModelDecl => d.kind === 'model');
    const model = modelName ? models.find((m) => m.name.name === modelName) : models[models.length - 1];
    if (!model) {
      fail(
        'E0205',
        modelName
          ? `no model named '${modelName}'${didYouMean(
              modelName,
              models.map((m) => m.name.name),
            )}`
          : 'the file declares no model (write `model name(input: f32[B, 3, 224, 224]) { ... }`)',
      );
    }
    // `self` in a model is the root of the checkpoint's key space.
    const env = new Map<string, Value>([['self', { k: 'path', key: '' }]]);
    const settings: Record<string, number | boolean | string> = {};
    const inputs = model.params.filter((p) => p.type?.dims);
    const knobs = model.params.filter((p) => !p.type?.dims);
    const known = new Set(knobs.map((p) => p.name.name));
    for (const name of Object.keys(given)) {
      if (!known.has(name)) {
        fail(
          'E0206',
          `model '${model.name.name}' has no setting '${name}'${didYouMean(name, known)}`,
          model.name.span,
          [note(`its settings are: ${[...known].join(', ') || '(none)'}`)],
        );
      }
    }
    for (const p of knobs) {
      const text = given[p.name.name];
      if (p.default === null) fail('E0308', `setting '${p.name.name}' needs a default value`, p.span);
      const dflt = this.eval(p.default, env);
      const v = text === undefined ? dflt : parseSetting(p, text, dflt);
      this.checkType(p, v, p.span);
      env.set(p.name.name, v);
      if (v.k === 'int' || v.k === 'float' || v.k === 'bool' || v.k === 'str') settings[p.name.name] = v.v;
    }
    if (inputs.length === 0) fail('E0205', `model '${model.name.name}' has no tensor input`, model.name.span);
    const batchName = this.batchName(inputs, env);
    this.b = new IrBuilder(batchName, this.limits);
    for (const p of inputs) {
      const dims: Dim[] = p.type!.dims!.map((e, i) => {
        if (e.kind === 'name' && e.name === batchName && i === 0) return batchName;
        const v = this.eval(e, env);
        if (v.k !== 'int' || v.v < 1)
          fail('E0301', `input dimension must be a positive int, got ${show(v)}`, e.span);
        return v.v;
      });
      if (p.type!.name !== 'f32')
        fail('E0301', `inputs are f32 tensors, not '${p.type!.name}'`, p.type!.span);
      env.set(p.name.name, this.b.input(p.name.name, dims, p.name.span));
    }
    const result = this.callBody(model.name.name, model.body, env, model.name.span);
    if (this.errors.length > 0) throw new DiagnosticError(this.errors);
    const outs = result.k === 'list' ? result.items : [result];
    const tensors = outs.map((o) => {
      if (o.k !== 'tensor') fail('E0301', `a model returns tensors, got ${describeKind(o)}`, model.name.span);
      return o;
    });
    return { module: this.b.finish(model.name.name, tensors), settings };
  }

  /** The symbolic batch: the first dimension of the first input, when it is an unbound name. */
  private batchName(inputs: readonly Param[], env: Map<string, Value>): string {
    const first = inputs[0]!.type!.dims![0]!;
    if (first.kind === 'name' && !env.has(first.name) && !this.globals.has(first.name)) return first.name;
    return 'B';
  }

  // ---- statements ----

  private callBody(name: string, body: readonly Stmt[], env: Map<string, Value>, span: Span): Value {
    const errorsBefore = this.errors.length;
    try {
      this.exec(body, env);
    } catch (e) {
      if (e instanceof Return) return e.value;
      throw e;
    }
    // A `return` inside a statement that failed was skipped: that error is already reported.
    if (this.errors.length > errorsBefore) return POISON;
    return fail('E0305', `'${name}' ends without returning a value`, span);
  }

  private exec(stmts: readonly Stmt[], env: Map<string, Value>): void {
    for (const s of stmts) this.stmt(s, env);
  }

  /**
   * Counts one step of evaluation at `span`: every expression, operator of a chain and statement
   * comes through here, so the limit bounds the total work, exponential recursion included.
   */
  private step(span: Span, cost = 1): void {
    this.steps += cost;
    if (this.steps > this.limits['eval-steps']) {
      const message = `compile-time evaluation takes more than ${this.limits['eval-steps']} steps`;
      throw new Abort(error('E0309', message, span, [...this.callNotes(), limitNote('eval-steps')]));
    }
  }

  /** A step one level deeper (the caller decrements `depth` when it returns). */
  private enter(span: Span): void {
    this.step(span);
    if (this.depth >= MAX_EVAL_DEPTH) {
      fail('E0306', `evaluation nests deeper than ${MAX_EVAL_DEPTH} levels (recursion?)`, span);
    }
    this.depth++;
  }

  /**
   * Runs one statement. A user error is recorded and the statement's results are poisoned, so that
   * evaluation goes on and one run reports every independent error; anything computed from a
   * poisoned value is skipped silently (its cause is already reported).
   */
  private stmt(s: Stmt, env: Map<string, Value>): void {
    try {
      this.enter(s.span);
      try {
        this.stmtInner(s, env);
      } finally {
        this.depth--;
      }
    } catch (e) {
      if (e instanceof Return || e instanceof Abort) throw e;
      if (e instanceof DiagnosticError) this.report(e.diagnostics);
      else if (!(e instanceof Poisoned)) throw e;
      if (s.kind === 'assign') for (const t of s.targets) env.set(t.name, POISON);
      if (s.kind === 'return') throw new Return(POISON);
    }
  }

  private callNotes(): Note[] {
    return this.stack
      .slice(-3)
      .reverse()
      .map((f) => note(`in block '${f.block}', called here`, f.call));
  }

  private report(ds: readonly Diagnostic[]): void {
    const notes = this.callNotes();
    for (const d of ds) {
      const key = `${d.code}|${d.span?.file}:${d.span?.line}:${d.span?.col}|${d.message}`;
      if (this.reported.has(key)) continue;
      this.reported.add(key);
      this.errors.push({ ...d, notes: [...d.notes, ...notes] });
    }
    if (this.errors.length >= MAX_ERRORS) throw new DiagnosticError(this.errors);
  }

  private stmtInner(s: Stmt, env: Map<string, Value>): void {
    switch (s.kind) {
      case 'assign': {
        const v = this.eval(s.value, env);
        if (s.targets.length === 1) {
          env.set(s.targets[0]!.name, v);
          return;
        }
        if (v.k !== 'list' || v.items.length !== s.targets.length) {
          fail(
            'E0301',
            `cannot unpack ${v.k === 'list' ? `${v.items.length} values` : describeKind(v)} into ${s.targets.length} names`,
            s.value.span,
          );
        }
        s.targets.forEach((t, i) => {
          env.set(t.name, v.items[i]!);
        });
        return;
      }
      case 'for': {
        const items = this.iterate(s, env);
        for (const item of items) {
          env.set(s.variable.name, item);
          this.exec(s.body, env);
        }
        return;
      }
      case 'if': {
        // An else-if chain runs as a loop, not as nested statements.
        let cur: Extract<Stmt, { kind: 'if' }> = s;
        while (!this.truth(cur.cond, env)) {
          const next = cur.else?.length === 1 ? cur.else[0]! : null;
          if (next?.kind !== 'if') {
            if (cur.else) this.exec(cur.else, env);
            return;
          }
          cur = next;
        }
        this.exec(cur.then, env);
        return;
      }
      case 'return': {
        const vals = s.values.map((e) => this.eval(e, env));
        throw new Return(vals.length === 1 ? vals[0]! : { k: 'list', items: vals });
      }
      case 'assert':
        if (!this.truth(s.cond, env)) fail('E0304', s.message ?? 'assertion failed', s.cond.span);
        return;
      case 'ignore': {
        const p = this.eval(s.target, env);
        if (p.k !== 'path')
          fail('E0301', `ignore takes a checkpoint key path, got ${describeKind(p)}`, s.target.span);
        this.b.ignore(p.key, s.span);
        return;
      }
    }
  }

  private iterate(s: Extract<Stmt, { kind: 'for' }>, env: Map<string, Value>): Value[] {
    const from = this.eval(s.from, env);
    if (s.to === null) {
      if (from.k !== 'list')
        fail(
          'E0301',
          `for-loops run over a list or a range 'a .. b', got ${describeKind(from)}`,
          s.from.span,
        );
      this.work(from.items.length, s.from.span);
      return [...from.items];
    }
    const to = this.eval(s.to, env);
    const lo = this.intOf(from, s.from.span);
    const hi = this.intOf(to, s.to.span);
    const max = this.limits['loop-iterations'];
    if (hi - lo > max) {
      fail(
        'E0309',
        `the loop would run ${hi - lo} times, more than ${max}`,
        joinSpans(s.from.span, s.to.span),
        [limitNote('loop-iterations')],
      );
    }
    return Array.from({ length: Math.max(0, hi - lo) }, (_, i) => int(lo + i));
  }

  private truth(e: Expr, env: Map<string, Value>): boolean {
    return this.truthOf(this.eval(e, env), e.span);
  }

  private truthOf(v: Value, span: Span): boolean {
    if (v.k !== 'bool')
      fail('E0301', `a condition must be a bool, got ${describeKind(v)} (${show(v)})`, span);
    return v.v;
  }

  // ---- expressions ----

  eval(e: Expr, env: Map<string, Value>): Value {
    this.enter(e.span);
    let v: Value;
    try {
      v = this.evalInner(e, env);
    } finally {
      this.depth--;
    }
    if (v.k === 'poison') throw new Poisoned();
    return v;
  }

  private evalInner(e: Expr, env: Map<string, Value>): Value {
    switch (e.kind) {
      case 'num':
        return e.isInt ? safeInt(e.value, e.span) : float(e.value);
      case 'str':
        return { k: 'str', v: e.value };
      case 'bool':
        return bool(e.value);
      case 'name':
        return this.lookup(e.name, e.span, env);
      case 'tuple':
      case 'list':
        return this.checkContainer({ k: 'list', items: e.items.map((i) => this.eval(i, env)) }, e.span);
      case 'map': {
        const entries = new Map<string, readonly [Value, Value]>();
        for (const { key, value } of e.entries) {
          const k = this.eval(key, env);
          entries.set(mapKey(k), [k, this.eval(value, env)]);
        }
        return this.checkContainer({ k: 'map', entries }, e.span);
      }
      case 'if': {
        // An else-if chain is evaluated as a loop, like the statement's.
        let cur: Extract<Expr, { kind: 'if' }> = e;
        while (!this.truth(cur.cond, env)) {
          if (cur.else.kind !== 'if') return this.eval(cur.else, env);
          cur = cur.else;
          this.step(cur.span);
        }
        return this.eval(cur.then, env);
      }
      case 'unary': {
        const v = this.eval(e.operand, env);
        if (e.op === 'not') {
          if (v.k !== 'bool') fail('E0301', `'not' needs a bool, got ${describeKind(v)}`, e.span);
          return bool(!v.v);
        }
        if (v.k === 'int' || v.k === 'float') return { k: v.k, v: -v.v };
        if (v.k === 'tensor') return this.b.emit('neg', [v], {}, e.span);
        return fail('E0301', `cannot negate ${describeKind(v)}`, e.span);
      }
      case 'binary':
        return this.binary(e, env);
      case 'member':
      case 'index':
        return this.postfix(e, env);
      case 'call':
        return this.call(e, env);
    }
  }

  /**
   * How deeply a value nests lists and maps, and how much it holds in all: its items, entries and
   * characters, nested containers included. Printing, comparing and map keys walk all of it, so a
   * list of itself doubled in a loop (`l = [l, l]`) must be bounded by its size, not its length.
   * Each container is measured once: every literal when it is made, others on demand.
   */
  private measure(v: Value): Measure {
    if (v.k !== 'list' && v.k !== 'map') return { depth: 0, size: 0 };
    const known = this.measured.get(v);
    if (known !== undefined) return known;
    let depth = 0;
    let size = 0;
    // An item counts 1, a string its characters, a container 1 and what it holds.
    const add = (x: Value): void => {
      const m = this.measure(x);
      depth = Math.max(depth, m.depth);
      size +=
        x.k === 'str' ? Math.max(1, x.v.length) : x.k === 'path' ? Math.max(1, x.key.length) : 1 + m.size;
    };
    if (v.k === 'list') for (const x of v.items) add(x);
    else
      for (const [key, x] of v.entries.values()) {
        add(key);
        add(x);
      }
    const m = { depth: depth + 1, size };
    this.measured.set(v, m);
    return m;
  }

  /** A list or map literal, refused when it nests too deeply or holds too much in all. */
  private checkContainer(v: Value, span: Span): Value {
    const m = this.measure(v);
    if (m.depth > MAX_LIST_NESTING)
      fail('E0309', `lists and maps nest deeper than ${MAX_LIST_NESTING} levels`, span);
    this.checkLength('list-length', m.size, span);
    return v;
  }

  private lookup(name: string, span: Span, env: Map<string, Value>): Value {
    const local = env.get(name);
    if (local?.k === 'poison') throw new Poisoned();
    if (local) return local;
    const cached = this.globalValues.get(name);
    if (cached) return cached;
    const decl = this.globals.get(name);
    if (decl) {
      if (decl.kind === 'block') return { k: 'block', decl };
      if (decl.kind === 'model') fail('E0301', `'${name}' is a model; models cannot be used as values`, span);
      if (decl.kind === 'import') throw new Error('unreachable');
      if (this.evaluating.has(name)) fail('E0303', `'${name}' is defined in terms of itself`, span);
      this.evaluating.add(name);
      let value: Value;
      try {
        value =
          decl.kind === 'const'
            ? this.eval(decl.value, new Map())
            : {
                k: 'record',
                name,
                fields: new Map(
                  decl.fields.map((f) => [f.name.name, this.eval(f.value, new Map())] as const),
                ),
              };
      } finally {
        this.evaluating.delete(name);
      }
      this.globalValues.set(name, value);
      return value;
    }
    if (BUILTINS.has(name) || NON_POLYNOMIAL.has(name)) {
      fail('E0301', `'${name}' is a function; call it with arguments`, span);
    }
    const candidates = [...env.keys(), ...this.globals.keys()];
    return fail('E0201', `unknown name '${name}'${didYouMean(name, candidates)}`, span);
  }

  /** `self.cells[3].ops[0]`: a chain of fields and indices, walked as a loop like `binary`. */
  private postfix(e: Extract<Expr, { kind: 'member' | 'index' }>, env: Map<string, Value>): Value {
    const chain: Extract<Expr, { kind: 'member' | 'index' }>[] = [e];
    let base = e.object;
    while (base.kind === 'member' || base.kind === 'index') {
      chain.push(base);
      base = base.object;
    }
    let acc = this.eval(base, env);
    for (let i = chain.length - 1; i >= 0; i--) {
      const link = chain[i]!;
      this.step(link.span);
      acc = link.kind === 'member' ? this.member(link, acc) : this.index(link, acc, env);
      if (acc.k === 'poison') throw new Poisoned();
    }
    return acc;
  }

  private member(e: Extract<Expr, { kind: 'member' }>, o: Value): Value {
    if (o.k === 'path') return this.subPath(o.key, e.name, e.span);
    if (o.k === 'record') {
      const f = o.fields.get(e.name);
      if (!f)
        fail(
          'E0208',
          `config '${o.name}' has no field '${e.name}'${didYouMean(e.name, o.fields.keys())}`,
          e.span,
        );
      return f;
    }
    if (o.k === 'tensor' && e.name === 'shape') {
      return {
        k: 'list',
        items: o.type.shape.map((d) => (typeof d === 'number' ? int(d) : { k: 'dim', name: d })),
      };
    }
    return fail('E0208', `${describeKind(o)} has no field '${e.name}'`, e.span);
  }

  private index(e: Extract<Expr, { kind: 'index' }>, o: Value, env: Map<string, Value>): Value {
    if (o.k === 'tensor') return this.sliceTensor(o, e, env);
    if (e.items.length !== 1 || e.items[0]!.kind !== 'at') {
      if (o.k === 'list' && e.items.length === 1) {
        const it = e.items[0]!;
        if (it.kind === 'slice') {
          const n = o.items.length;
          const s = it.start ? this.clampIndex(this.intOf(this.eval(it.start, env), it.span), n) : 0;
          const t = it.end ? this.clampIndex(this.intOf(this.eval(it.end, env), it.span), n) : n;
          this.work(t - s, e.span);
          return { k: 'list', items: o.items.slice(s, t) };
        }
      }
    }
    const only = e.items[0];
    if (e.items.length !== 1 || only?.kind !== 'at')
      return fail('E0301', `${describeKind(o)} takes a single index`, e.span);
    const idx = this.eval(only.value, env);
    if (o.k === 'path') {
      if (idx.k !== 'int' && idx.k !== 'str')
        fail('E0301', `a path index must be an int or string, got ${describeKind(idx)}`, e.span);
      if (idx.k === 'int' && idx.v < 0)
        fail('E0307', `a checkpoint path index must be non-negative, got ${idx.v}`, e.span);
      return this.subPath(o.key, String(idx.v), e.span);
    }
    if (o.k === 'list') {
      const i = this.intOf(idx, only.span);
      const j = i < 0 ? i + o.items.length : i;
      const item = o.items[j];
      if (item === undefined)
        fail('E0307', `index ${i} is out of range for a list of length ${o.items.length}`, e.span);
      return item;
    }
    if (o.k === 'map') {
      const hit = o.entries.get(mapKey(idx));
      if (!hit) fail('E0307', `key ${show(idx)} is not in the map ${show(o)}`, e.span);
      return hit[1];
    }
    if (o.k === 'record') {
      if (idx.k !== 'str') fail('E0301', 'a config is indexed by a field name string', e.span);
      return this.member({ kind: 'member', object: e.object, name: idx.v, span: e.span }, o);
    }
    return fail('E0301', `cannot index ${describeKind(o)}`, e.span);
  }

  private clampIndex(i: number, n: number): number {
    return Math.min(n, Math.max(0, i < 0 ? i + n : i));
  }

  /** `t[:, a:b]` slices; `t[i]` (an int on an axis) selects and drops that axis. */
  private sliceTensor(t: TensorValue, e: Extract<Expr, { kind: 'index' }>, env: Map<string, Value>): Value {
    if (e.items.length > t.type.shape.length) {
      fail(
        'E0402',
        `too many indices (${e.items.length}) for a tensor of rank ${t.type.shape.length}`,
        e.span,
      );
    }
    let cur = t;
    const dropped: number[] = [];
    e.items.forEach((item, axis) => {
      const n = cur.type.shape[axis]!;
      if (item.kind === 'slice' && item.start === null && item.end === null) return;
      if (typeof n !== 'number') fail('E0402', 'cannot index the batch dimension', item.span);
      let start: number;
      let end: number;
      if (item.kind === 'at') {
        start = this.intOf(this.eval(item.value, env), item.span);
        if (start < 0) start += n;
        end = start + 1;
        dropped.push(axis);
      } else {
        start = item.start ? this.intOf(this.eval(item.start, env), item.span) : 0;
        end = item.end ? this.intOf(this.eval(item.end, env), item.span) : n;
        if (start < 0) start += n;
        if (end < 0) end += n;
      }
      if (!(start >= 0 && start < end && end <= n)) {
        fail('E0402', `index ${start}:${end} is out of range for axis ${axis} of size ${n}`, item.span, [
          note(`the tensor is ${formatType(cur.type)}, produced here`, t.origin),
        ]);
      }
      if (start !== 0 || end !== n) cur = this.b.emit('slice', [cur], { axis, start, end }, item.span);
    });
    if (dropped.length === 0) return cur;
    const shape = cur.type.shape.filter((_, i) => !dropped.includes(i));
    return this.b.emit('reshape', [cur], { shape }, e.span);
  }

  /**
   * `a + b + c` nests to the left as long as the source is: the chain is walked as a loop (left
   * operand first, as recursion would), so its length is not bounded by the stack.
   */
  private binary(e: Extract<Expr, { kind: 'binary' }>, env: Map<string, Value>): Value {
    const chain: Extract<Expr, { kind: 'binary' }>[] = [e];
    let first = e.lhs;
    while (first.kind === 'binary') {
      chain.push(first);
      first = first.lhs;
    }
    let acc = this.eval(first, env);
    for (let i = chain.length - 1; i >= 0; i--) {
      const link = chain[i]!;
      this.step(link.span);
      acc = this.applyBinary(link, acc, env);
      if (acc.k === 'poison') throw new Poisoned();
    }
    return acc;
  }

  /** `e` with its left operand already evaluated to `l`. */
  private applyBinary(e: Extract<Expr, { kind: 'binary' }>, l: Value, env: Map<string, Value>): Value {
    if (e.op === 'and' || e.op === 'or') {
      const lv = this.truthOf(l, e.lhs.span);
      if (e.op === 'and' ? !lv : lv) return bool(lv);
      return bool(this.truth(e.rhs, env));
    }
    const r = this.eval(e.rhs, env);
    if (l.k === 'tensor' || r.k === 'tensor') return this.tensorBinary(e, l, r);
    switch (e.op) {
      case '==':
      case '!=':
        // Lists compare item by item.
        this.work(this.measure(l).size + this.measure(r).size, e.span);
        return bool(equal(l, r) === (e.op === '=='));
      case 'in':
        if (r.k === 'list') {
          this.work(this.measure(r).size + r.items.length * this.measure(l).size, e.span);
          return bool(r.items.some((x) => equal(x, l)));
        }
        if (r.k === 'map') return bool(r.entries.has(mapKey(l)));
        return fail('E0301', `'in' needs a list or map on the right, got ${describeKind(r)}`, e.rhs.span);
      default:
        break;
    }
    if (e.op === '+' && l.k === 'list' && r.k === 'list') {
      this.checkLength('list-length', this.measure(l).size + this.measure(r).size, e.span);
      this.work(l.items.length + r.items.length, e.span);
      return { k: 'list', items: [...l.items, ...r.items] };
    }
    if (e.op === '+' && l.k === 'str' && r.k === 'str') {
      this.checkLength('string-length', l.v.length + r.v.length, e.span);
      return { k: 'str', v: l.v + r.v };
    }
    if (e.op === '*' && l.k === 'list' && r.k === 'int') {
      const n = Math.max(0, r.v);
      this.checkLength('list-length', this.measure(l).size * n, e.span);
      this.work(l.items.length * n, e.span);
      return { k: 'list', items: Array.from({ length: n }, () => l.items).flat() };
    }
    if ((l.k !== 'int' && l.k !== 'float') || (r.k !== 'int' && r.k !== 'float')) {
      return fail('E0301', `cannot apply '${e.op}' to ${describeKind(l)} and ${describeKind(r)}`, e.span);
    }
    const ints = l.k === 'int' && r.k === 'int';
    const a = l.v;
    const b = r.v;
    const num = (v: number, isInt: boolean): Value => (isInt ? safeInt(v, e.span) : float(v));
    switch (e.op) {
      case '+':
        return num(a + b, ints);
      case '-':
        return num(a - b, ints);
      case '*':
        return num(a * b, ints);
      case '/':
        if (b === 0) fail('E0303', 'division by zero', e.span);
        return float(a / b);
      case '//':
        if (b === 0) fail('E0303', 'division by zero', e.span);
        return num(Math.floor(a / b), ints);
      case '%':
        if (b === 0) fail('E0303', 'division by zero', e.span);
        return num(a - b * Math.floor(a / b), ints);
      case '^':
        return num(a ** b, ints && b >= 0);
      case '<':
        return bool(a < b);
      case '<=':
        return bool(a <= b);
      case '>':
        return bool(a > b);
      case '>=':
        return bool(a >= b);
      default:
        return fail('E0301', `cannot apply '${e.op}' to numbers`, e.span);
    }
  }

  private tensorBinary(e: Extract<Expr, { kind: 'binary' }>, l: Value, r: Value): Value {
    const t = (v: Value, side: Expr): TensorValue => {
      if (v.k === 'tensor') return v;
      if (v.k === 'int' || v.k === 'float') return this.b.constant(v.v, side.span);
      return fail('E0301', `cannot apply '${e.op}' to a tensor and ${describeKind(v)}`, side.span);
    };
    switch (e.op) {
      case '+':
        return this.b.emit('add', [t(l, e.lhs), t(r, e.rhs)], {}, e.span, "'+'");
      case '-':
        return this.b.emit('sub', [t(l, e.lhs), t(r, e.rhs)], {}, e.span, "'-'");
      case '*':
        return this.b.emit('mul', [t(l, e.lhs), t(r, e.rhs)], {}, e.span, "'*'");
      case '@':
        return this.b.emit('matmul', [t(l, e.lhs), t(r, e.rhs)], {}, e.span, "'@'");
      case '/': {
        const d = t(r, e.rhs);
        if (!d.constant) {
          fail(
            'E0501',
            'division by a data-dependent tensor is not polynomial: polyc networks must stay polynomial in their input',
            e.rhs.span,
            [
              note(
                'divide by parameters or constants, or use l1norm(x, axis) for the normalisation the reference uses',
              ),
            ],
          );
        }
        return this.b.emit('div', [t(l, e.lhs), d], {}, e.span, "'/'");
      }
      case '^': {
        if (l.k !== 'tensor') {
          fail(
            'E0502',
            `only a tensor can be raised to a power here; the exponent ${show(r)} must be a positive int`,
            e.span,
          );
        }
        if (r.k !== 'int' || r.v < 1) {
          fail('E0502', `a tensor power needs a positive integer exponent, got ${show(r)}`, e.rhs.span);
        }
        if (r.v > MAX_TENSOR_POWER) {
          fail(
            'E0502',
            `a tensor power's exponent may be at most ${MAX_TENSOR_POWER}, got ${r.v}`,
            e.rhs.span,
          );
        }
        return this.b.emit('pow', [l], { exponent: r.v }, e.span, "'^'");
      }
      default:
        return fail('E0301', `'${e.op}' is not defined on tensors`, e.span);
    }
  }

  // ---- calls ----

  private call(e: Extract<Expr, { kind: 'call' }>, env: Map<string, Value>): Value {
    if (e.callee.kind !== 'name')
      fail('E0207', 'only blocks and builtin functions can be called', e.callee.span);
    const name = e.callee.name;
    const target =
      env.get(name) ?? (this.globals.has(name) ? this.lookup(name, e.callee.span, env) : undefined);
    if (target?.k === 'block') return this.callBlock(target.decl, e, env);
    if (target !== undefined && !BUILTINS.has(name))
      fail('E0207', `'${name}' is ${describeKind(target)}, not a block`, e.callee.span);
    const np = NON_POLYNOMIAL.get(name);
    if (np !== undefined) {
      fail(
        'E0501',
        `'${name}' is not a polynomial: polyc networks must stay polynomial in their input`,
        e.callee.span,
        [note(np)],
      );
    }
    const builtin = BUILTINS.get(name);
    if (!builtin) {
      // User blocks first: on a tie the user's own name is the likelier intent.
      const blocks = [...this.globals.values()].filter((d) => d.kind === 'block').map((d) => d.name.name);
      const candidates = [...blocks, ...BUILTINS.keys()];
      fail('E0207', `unknown function or block '${name}'${didYouMean(name, candidates)}`, e.callee.span);
    }
    const args = this.bindArgs(name, builtin.params, e.args, env, e.span);
    return builtin.run(args, {
      b: this.b,
      span: e.span,
      argSpan: (n) =>
        e.args.find((a, i) => a.name === n || (a.name === null && builtin.params[i]?.name === n))?.span ??
        e.span,
      path: (p) => p.key,
      limits: this.limits,
      work: (length) => this.work(length, e.span),
    });
  }

  private bindArgs(
    callee: string,
    params: readonly { name: string; default?: Value }[],
    args: readonly Arg[],
    env: Map<string, Value>,
    span: Span,
  ): Map<string, Value> {
    const out = new Map<string, Value>();
    let positional = 0;
    for (const a of args) {
      let name: string;
      if (a.name === null) {
        const p = params[positional++];
        if (!p) fail('E0302', `'${callee}' takes at most ${params.length} arguments`, a.span);
        name = p.name;
      } else {
        if (!params.some((p) => p.name === a.name)) {
          fail(
            'E0302',
            `'${callee}' has no argument '${a.name}'${didYouMean(
              a.name,
              params.map((p) => p.name),
            )}`,
            a.span,
            [note(`its arguments are: ${params.map((p) => p.name).join(', ')}`)],
          );
        }
        name = a.name;
      }
      if (out.has(name)) fail('E0302', `argument '${name}' given twice`, a.span);
      out.set(name, this.eval(a.value, env));
    }
    for (const p of params) {
      if (!out.has(p.name)) {
        if (p.default === undefined) fail('E0302', `'${callee}' is missing argument '${p.name}'`, span);
        out.set(p.name, p.default);
      }
    }
    return out;
  }

  private callBlock(decl: BlockDecl, e: Extract<Expr, { kind: 'call' }>, env: Map<string, Value>): Value {
    // A call binds its parameters in a new scope and path: many expression steps' worth of work,
    // so exponential recursion reaches the eval-steps limit in a second, not ten.
    this.step(e.span, BLOCK_CALL_STEPS);
    if (this.stack.length >= MAX_CALL_DEPTH)
      fail('E0306', `blocks nest deeper than ${MAX_CALL_DEPTH} calls (recursion?)`, e.span);
    const inner = new Map<string, Value>();
    const given = new Map<string, Value>();
    let positional = 0;
    for (const a of e.args) {
      const name = a.name ?? decl.params[positional++]?.name.name;
      if (name === undefined)
        fail('E0302', `block '${decl.name.name}' takes ${decl.params.length} arguments`, a.span, [
          note('declared here', decl.name.span),
        ]);
      if (!decl.params.some((p) => p.name.name === name)) {
        fail(
          'E0302',
          `block '${decl.name.name}' has no parameter '${name}'${didYouMean(
            name,
            decl.params.map((p) => p.name.name),
          )}`,
          a.span,
          [note('declared here', decl.name.span)],
        );
      }
      if (given.has(name)) fail('E0302', `argument '${name}' given twice`, a.span);
      given.set(name, this.eval(a.value, env));
    }
    this.stack.push({ block: decl.name.name, call: e.span });
    const savedPath = this.path;
    const savedScope = this.b.scope;
    try {
      for (const p of decl.params) {
        let v = given.get(p.name.name);
        if (v === undefined) {
          if (p.default === null) {
            fail('E0302', `block '${decl.name.name}' is missing argument '${p.name.name}'`, e.span, [
              note('declared here', p.span),
            ]);
          }
          v = this.eval(p.default, inner);
        }
        this.checkType(p, v, e.span);
        inner.set(p.name.name, v);
      }
      const self = inner.get('self');
      if (self?.k === 'path') this.path = self.key;
      this.b.scope = `${this.path}:${decl.name.name}`;
      return this.callBody(decl.name.name, decl.body, inner, decl.name.span);
    } finally {
      this.stack.pop();
      this.path = savedPath;
      this.b.scope = savedScope;
    }
  }

  private checkType(p: Param, v: Value, span: Span): void {
    const t = p.type?.name;
    if (!t || t === 'any') return;
    const okKinds: Record<string, readonly string[]> = {
      int: ['int'],
      float: ['int', 'float'],
      bool: ['bool'],
      str: ['str'],
      list: ['list'],
      map: ['map'],
      config: ['record'],
      path: ['path'],
      tensor: ['tensor'],
    };
    const allowed = okKinds[t];
    if (!allowed) {
      fail('E0301', `unknown type '${t}'${didYouMean(t, Object.keys(okKinds))}`, p.type!.span);
    }
    if (!allowed.includes(v.k)) {
      fail('E0301', `'${p.name.name}' must be ${t}, got ${describeKind(v)} (${show(v)})`, span, [
        note(`'${p.name.name}' is declared here`, p.span),
      ]);
    }
  }

  /** `key.part`: a checkpoint key is a string, bounded like one. */
  private subPath(key: string, part: string, span: Span): Value {
    this.checkLength('string-length', key.length + 1 + part.length, span);
    return { k: 'path', key: key === '' ? part : `${key}.${part}` };
  }

  /**
   * Charges the steps of making or walking a list of `length` items: a step per 16, so that
   * `l = l + [i]` or `i in l` in a loop, quadratic in items, is bounded by the step limit too.
   * (Strings and checkpoint keys are not copied when they grow: V8 concatenates lazily.)
   */
  private work(length: number, span: Span): void {
    this.step(span, Math.floor(length / 16));
  }

  /** Refuses a list or string of `length` items before it is made. */
  private checkLength(limit: 'list-length' | 'string-length', length: number, span: Span): void {
    const max = this.limits[limit];
    if (length <= max) return;
    if (limit === 'string-length')
      fail('E0309', `a string of ${length} characters is longer than ${max}`, span, [limitNote(limit)]);
    fail('E0309', `a list of ${length} items is longer than ${max}`, span, [
      note('the items of nested lists and maps count, and the characters of strings'),
      limitNote(limit),
    ]);
  }

  private intOf(v: Value, span: Span): number {
    if (v.k !== 'int') fail('E0301', `expected an int, got ${describeKind(v)} (${show(v)})`, span);
    return v.v;
  }
}

/** Parses `--set name=text` by the setting's declared type, else by its default's kind. */
function parseSetting(p: Param, text: string, dflt: Value): Value {
  const bad = (what: string) =>
    fail('E0308', `setting '${p.name.name}' must be ${what}, got '${text}'`, p.span, [
      note(`declared here with default ${show(dflt)}`),
    ]);
  const declared = p.type?.name;
  const kind =
    declared === 'int' || declared === 'float' || declared === 'bool' || declared === 'str'
      ? declared
      : dflt.k;
  switch (kind) {
    case 'int':
      if (!/^-?\d+$/.test(text)) return bad('an integer');
      // Beyond 2^53 a number no longer holds every integer: 99999999999999999999 would round.
      return Number.isSafeInteger(Number(text)) ? int(Number(text)) : bad('an integer of at most 2^53 - 1');
    case 'float':
      return Number.isFinite(Number(text)) && text.trim() !== '' ? float(Number(text)) : bad('a number');
    case 'bool':
      return text === 'true' || text === 'false' ? bool(text === 'true') : bad('true or false');
    case 'str':
      return { k: 'str', v: text };
    default:
      return bad('a number, bool or string');
  }
}
