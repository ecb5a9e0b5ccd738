/**
 * The contract between polyc's inspector data extraction (compiler/src/inspect) and the inspector
 * page (this folder): what `polyc inspect --json` writes and what the HTML page embeds. Plain JSON
 * data; docs/inspector.schema.json is its JSON Schema and docs/inspector.md documents it. Bump
 * INSPECTOR_VERSION on any change a reader could notice.
 */

export const INSPECTOR_VERSION = 1;

/** A dimension: a number, or the name of the symbolic batch dimension. */
export type Dim = number | string;

/** A source span: index into `InspectorData.sources`, 1-based line and column, length in characters. */
export type Loc = readonly [file: number, line: number, col: number, length: number];

export interface InspectorData {
  readonly version: typeof INSPECTOR_VERSION;
  /** The .poly file named on the command line. */
  readonly entry: string;
  /** The pipeline as given (`default`, `none`, or pass names separated by commas). */
  readonly pipeline: string;
  /** Every source file read, the entry first; `Loc`s index this list. */
  readonly sources: readonly { readonly file: string; readonly text: string }[];
  /** User errors; when there are any, `model` is null (the `--serve` page shows them). */
  readonly diagnostics: readonly DiagnosticData[];
  readonly model: ModelData | null;
}

export interface DiagnosticData {
  readonly code: string;
  readonly severity: 'error' | 'warning';
  readonly message: string;
  readonly loc: Loc | null;
  /** As the command line prints it, with the source excerpt. */
  readonly rendered: string;
}

export interface ModelData {
  readonly name: string;
  /** Compile-time settings after `--set` overrides. */
  readonly settings: Readonly<Record<string, number | boolean | string>>;
  readonly batch: string;
  readonly inputs: readonly { readonly id: number; readonly name: string; readonly shape: readonly Dim[] }[];
  /** Ids in the last stage. */
  readonly outputs: readonly { readonly id: number; readonly shape: readonly Dim[] }[];
  readonly summary: Summary;
  /** The degree analysis of the model as built, stage 0 (what `polyc degree` reports). */
  readonly degree: DegreeData;
  /** Stage 0 is the module as built; stage i > 0 is the module after pipeline pass i - 1. */
  readonly stages: readonly StageData[];
  /** The WebGPU plan of the last stage at batch 1. */
  readonly plan: PlanData;
}

export interface Summary {
  /** Trainable parameters (cost analysis). */
  readonly params: number;
  /** Non-trainable checkpoint elements (running statistics). */
  readonly buffers: number;
  /** FLOPs per image of the last stage (multiply-add = 2). */
  readonly flops: number;
  readonly opsBefore: number;
  readonly opsAfter: number;
  /** Steps of the plan that dispatch work (what `polyc run --stats` reports). */
  readonly dispatches: number;
  /** Distinct kernels. */
  readonly kernels: number;
  /** Activation arena of the plan at batch 1, and the most bytes live at once (its lower bound). */
  readonly activationBytes: number;
  readonly activationLowerBoundBytes: number;
  /** Packed weights and load-time constants. */
  readonly weightBytes: number;
  /** Total time of the pipeline's passes, milliseconds. */
  readonly passMs: number;
}

export interface DegreeFacts {
  /** Exact, in decimal digits. */
  readonly degree: string;
  readonly log2: number | null;
  readonly depthAsWritten: number;
  readonly depthBalanced: number;
}

export interface DegreeData {
  /** No barriers: the outputs are polynomials of exactly `outputs[i].degree` in the input. */
  readonly polynomial: boolean;
  readonly outputs: readonly (DegreeFacts & { readonly id: number; readonly segment: number })[];
  readonly barriers: readonly {
    readonly id: number;
    readonly innerId: number | null;
    readonly kind: string;
    readonly loc: Loc | null;
    readonly scope: string;
    readonly segment: number;
    readonly input: DegreeFacts & { readonly segment: number };
  }[];
  readonly segments: readonly (DegreeFacts & { readonly index: number })[];
}

export interface StageData {
  /** The pass that produced this stage; null for stage 0. */
  readonly pass: string | null;
  readonly ms: number;
  readonly changed: boolean;
  readonly opCount: number;
  /** The ops, when this stage differs from the previous one; else null (same as the previous). */
  readonly ops: readonly OpData[] | null;
  /** What changed from the previous stage (empty for stage 0 and unchanged stages). */
  readonly changes: readonly ChangeData[];
  /** The ops the pass kept: [id in the previous stage, id in this one] (empty when unchanged). */
  readonly kept: readonly (readonly [number, number])[];
}

export interface OpData {
  readonly id: number;
  readonly op: string;
  readonly operands: readonly number[];
  /** The op's attributes; a fused op has `kind` and its region in `body` (ops with their own ids). */
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly shape: readonly Dim[];
  readonly loc: Loc | null;
  /** `<module path>:<block>` of the DSL block instance that created the op. */
  readonly scope: string;
  /** The op's region (fused ops only): ops with their own ids, `arg` ops binding the operands. */
  readonly body?: readonly OpData[];
  /** FLOPs per image (cost analysis). */
  readonly flops: number;
  /** Trainable elements of the checkpoint tensor this op is, or of those it reads directly (absent: 0). */
  readonly params?: number;
  /** Bytes of the result per image. */
  readonly bytes: number;
  /** Checkpoint keys this op is or reads directly (absent: none). */
  readonly keys?: readonly string[];
  /** Degree analysis of top-level data-path values; absent for constant-derived values and inside regions. */
  readonly degree?: DegreeFacts & { readonly segment: number };
  /** Liveness: [defining op index, last reading op index (null: a model output)]; absent for load-time values. */
  readonly live?: readonly [number, number | null];
}

export type ChangeKind = 'removed' | 'added' | 'folded' | 'merged';

export interface ChangeData {
  /**
   * removed: ops gone with nothing new at their source location; added: new ops; folded: ops
   * replaced by new ops from the same source location and scope; merged: ops now inside a new
   * fused region (`after` is the fused op).
   */
  readonly kind: ChangeKind;
  /** Ids in the previous stage. */
  readonly before: readonly number[];
  /** Ids in this stage. */
  readonly after: readonly number[];
  /** One line: what and where. */
  readonly text: string;
}

export interface PlanData {
  readonly kernels: readonly {
    readonly name: string;
    readonly key: string;
    readonly wgsl: string;
    readonly workgroupSize: number;
  }[];
  /** The steps in order; the runtime skips those with no invocations (they are not dispatches). */
  readonly steps: readonly {
    /** Index into `kernels`. */
    readonly kernel: number;
    readonly label: string;
    /** The value it computes: an op id of the last stage. */
    readonly op: number;
    /** Top-level op ids of the last stage it computes or reads through as views. */
    readonly members: readonly number[];
    readonly invocations: number;
    readonly workgroups: number;
    readonly flops: number;
    readonly bytes: number;
  }[];
  /** The memory plan: each arena value's offset and size in bytes, and its lifetime in steps. */
  readonly arena: readonly {
    readonly id: number;
    readonly offset: number;
    readonly bytes: number;
    /** First step writing it (-1: a model input), last step reading it (null: a model output). */
    readonly first: number;
    readonly last: number | null;
  }[];
  readonly arenaBytes: number;
}
