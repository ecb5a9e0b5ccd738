import binaryen from 'binaryen';

/**
 * A thin layer over binaryen's module-building API for the CPU kernels: named locals, counted
 * loops with compile-time trip counts, byte addressing of f32 arrays. Kernels take byte pointers
 * (i32) into the one linear memory that holds the arena and the weights.
 */

export type Expr = binaryen.ExpressionRef;

export const i32 = binaryen.i32;
export const f32 = binaryen.f32;
export const v128 = binaryen.v128;

/** The 16 bytes of a zero f32x4, for `v128.const`. */
export const ZERO = new Array<number>(16).fill(0);

export class Fn {
  private readonly types: binaryen.Type[] = [];
  private readonly names = new Map<string, number>();
  private labels = 0;
  private readonly paramCount: number;

  constructor(
    readonly m: binaryen.Module,
    params: readonly string[],
  ) {
    for (const p of params) this.local(p, i32);
    this.paramCount = params.length;
  }

  /** The index of local `name`, declared with `type` on first use. */
  local(name: string, type: binaryen.Type): number {
    let i = this.names.get(name);
    if (i === undefined) {
      i = this.types.length;
      this.types.push(type);
      this.names.set(name, i);
    }
    return i;
  }

  get(name: string, type: binaryen.Type = i32): Expr {
    return this.m.local.get(this.local(name, type), type);
  }

  set(name: string, value: Expr, type: binaryen.Type = i32): Expr {
    return this.m.local.set(this.local(name, type), value);
  }

  int(v: number): Expr {
    return this.m.i32.const(v);
  }

  /** `base + bytes` (i32), leaving out a zero term (binaryen's expression refs are numbers too). */
  plus(base: Expr, bytes: number): Expr {
    return bytes === 0 ? base : this.m.i32.add(base, this.int(bytes));
  }

  /**
   * `for (name = from; name < to; name += step) body` with a compile-time trip count: nothing
   * when it is 0, the body once without a loop when it is 1, else a do-while.
   */
  loop(name: string, from: number, to: number, step: number, body: readonly Expr[]): Expr {
    const trips = Math.max(0, Math.ceil((to - from) / step));
    if (trips === 0) return this.m.nop();
    const init = this.set(name, this.int(from));
    if (trips === 1) return this.m.block(null, [init, ...body]);
    const label = `L${this.labels++}`;
    const m = this.m;
    return m.block(null, [
      init,
      m.loop(
        label,
        m.block(null, [
          ...body,
          this.set(name, m.i32.add(this.get(name), this.int(step))),
          m.br(label, m.i32.lt_s(this.get(name), this.int(to))),
        ]),
      ),
    ]);
  }

  /** `for (name = from; name < to; name += step) body` with bounds known only at run time. */
  range(name: string, from: Expr, to: Expr, step: number, body: readonly Expr[]): Expr {
    const m = this.m;
    const label = `L${this.labels++}`;
    const exit = `E${this.labels++}`;
    return m.block(exit, [
      this.set(name, from),
      m.loop(
        label,
        m.block(null, [
          m.br(exit, m.i32.ge_s(this.get(name), to)),
          ...body,
          this.set(name, m.i32.add(this.get(name), this.int(step))),
          m.br(label),
        ]),
      ),
    ]);
  }

  /** The sum of the 4 lanes of f32x4 local `name` (an f32). */
  laneSum(name: string): Expr {
    const lane = (i: number) => this.m.f32x4.extract_lane(this.get(name, v128), i);
    return this.m.f32.add(this.m.f32.add(lane(0), lane(1)), this.m.f32.add(lane(2), lane(3)));
  }

  /** Adds the function (params first, then the other locals) and exports it under `name`. */
  finish(name: string, body: readonly Expr[]): void {
    const params = this.types.slice(0, this.paramCount);
    const vars = this.types.slice(this.paramCount);
    this.m.addFunction(name, binaryen.createType(params), binaryen.none, vars, this.m.block(null, [...body]));
    this.m.addFunctionExport(name, name);
  }
}
