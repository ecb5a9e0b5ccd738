import type { Op } from '../../ir/types.js';
import { ATTENTION_QUERIES, takesQueries } from './attention.js';
import {
  type KernelOptions,
  type RenderedKernel,
  selectKernel,
  type Template,
  type Unit,
} from './kernels.js';
import { hash } from './plan.js';

/**
 * Kernel variants: the ways a template can render one unit (output channels per invocation,
 * workgroup size, PolyConv's register or staged form and its tile, attention's queries per
 * invocation and where their Q' rows live), as plain data so that `polyc tune` can store the one
 * it measured fastest in a JSON cache and `polyc compile` can render it again. A variant with no
 * knobs (`{ template }`) is the template's own rule: the default, what a compile without a cache
 * renders (`renderKernel(unit)`).
 */
export type KernelVariant =
  | { readonly template: 'gemm' | 'conv'; readonly channels?: number; readonly workgroupSize?: number }
  | { readonly template: 'norm' | 'tile'; readonly workgroupSize?: number }
  | {
      readonly template: 'polyconv';
      readonly mode?: 'registers' | 'staged';
      readonly tw?: number;
      readonly th?: number;
    }
  | { readonly template: 'attention'; readonly queries?: number; readonly qRows?: 'registers' | 'reload' }
  | { readonly template: 'depthwise' | 'elementwise' };

/** The bounded set of knobs each template offers (the tuner times them all). */
const CHANNELS = [4, 8] as const;
const WORKGROUP_SIZES = [64, 128, 256] as const;
const POLYCONV_WIDTHS = [4, 8] as const;
const POLYCONV_ROWS = [4, 8, 16] as const;

/** A unit's kernel under a variant, as `selectKernel` renders it with the variant's options. */
function variantOptions(v: KernelVariant): KernelOptions {
  const wg = 'workgroupSize' in v && v.workgroupSize ? { workgroupSize: v.workgroupSize } : {};
  switch (v.template) {
    case 'gemm':
      return { ...wg, ...(v.channels ? { gemmChannels: v.channels } : {}) };
    case 'conv':
      return { ...wg, ...(v.channels ? { convChannels: v.channels } : {}) };
    case 'norm':
    case 'tile':
      return wg;
    case 'polyconv':
      return {
        polyconv: v.mode ?? 'registers',
        polyconvTile: { ...(v.tw ? { tw: v.tw } : {}), ...(v.th ? { th: v.th } : {}) },
      };
    case 'attention':
      return {
        ...(v.queries ? { attentionQueries: v.queries } : {}),
        ...(v.qRows ? { attentionQRows: v.qRows } : {}),
      };
    case 'elementwise':
      // The generic path, past every template a unit of this kind could otherwise take.
      return { gemm: false, conv: false, norm: false };
    default:
      return {};
  }
}

/**
 * `unit`'s kernel rendered as `variant` says, or null when the variant does not apply to it (its
 * template does not render the unit, e.g. a cached choice for a unit the compiler now renders
 * another way). Throws what the template throws for knobs it cannot honour.
 */
export function renderVariant(unit: Unit, variant: KernelVariant): RenderedKernel | null {
  const { template, kernel } = selectKernel(unit, variantOptions(variant));
  return template === variant.template ? kernel : null;
}

/** The default variant of `unit` (its template's rule) and the alternatives the tuner times. */
export function variantSpace(unit: Unit): {
  readonly default: KernelVariant;
  readonly others: KernelVariant[];
} {
  const { template } = selectKernel(unit);
  const others: KernelVariant[] = [];
  switch (template) {
    case 'gemm':
    case 'conv':
      for (const channels of CHANNELS)
        for (const workgroupSize of WORKGROUP_SIZES) others.push({ template, channels, workgroupSize });
      break;
    case 'norm':
      for (const workgroupSize of WORKGROUP_SIZES) others.push({ template, workgroupSize });
      others.push({ template: 'elementwise' });
      break;
    case 'tile':
      // The pixel tile follows the workgroup above 64 (tile.ts, `tileBlocks`: the fewest idle
      // invocations); the rule's workgroup, TILE_WORKGROUP_SIZE, is below these.
      for (const workgroupSize of WORKGROUP_SIZES) others.push({ template, workgroupSize });
      break;
    case 'polyconv': {
      const [, , h = 1, w = 1] = resultShape(unit);
      others.push({ template, mode: 'staged' });
      for (const tw of POLYCONV_WIDTHS) if (tw <= w) others.push({ template, tw });
      for (const th of POLYCONV_ROWS) if (th <= h) others.push({ template, th });
      break;
    }
    case 'attention':
      // Only units the register template takes have the knob (the generic one ignores it).
      if (takesQueries(unit))
        for (const queries of ATTENTION_QUERIES)
          for (const qRows of ['registers', 'reload'] as const) others.push({ template, queries, qRows });
      break;
    default:
      break;
  }
  return { default: { template }, others };
}

function resultShape(unit: Unit): readonly number[] {
  const root = unit.ops.find((o) => o.id === unit.result)!;
  return root.type.shape.map((d) => (typeof d === 'number' ? d : 1));
}

/**
 * A stable name for what `unit` computes, whatever variant renders it: its template, family and
 * result shape, and a hash of its ops (kinds, attributes, types, operands; not their source
 * locations or scopes) and of where its sources live. Units repeated across blocks share it.
 */
export function unitSignature(unit: Unit, template: Template = selectKernel(unit).template): string {
  const ops = unit.ops.map(({ loc: _loc, scope: _scope, ...rest }: Op) => rest);
  const root = unit.ops.find((o) => o.id === unit.result)!;
  const dims = root.type.shape.filter((d) => typeof d === 'number').join('x');
  const body = JSON.stringify({ ops, result: unit.result, sources: unit.sources });
  return `${template}:${unit.family}_${dims}#${hash(body)}`;
}

/** A variant in a few words, for tables: `gemm 8x4 wg128`, `polyconv staged`, `norm (rule)`. */
export function describeVariant(v: KernelVariant): string {
  const knobs: string[] = [];
  if ('mode' in v && v.mode) knobs.push(v.mode);
  if ('channels' in v && v.channels) knobs.push(`${v.channels}ch`);
  if ('queries' in v && v.queries) knobs.push(`${v.queries}q`);
  if ('qRows' in v && v.qRows) knobs.push(`q rows ${v.qRows === 'reload' ? 'reloaded' : 'in registers'}`);
  if ('tw' in v && v.tw) knobs.push(`tw${v.tw}`);
  if ('th' in v && v.th) knobs.push(`th${v.th}`);
  if ('workgroupSize' in v && v.workgroupSize) knobs.push(`wg${v.workgroupSize}`);
  return `${v.template} ${knobs.length > 0 ? knobs.join(' ') : '(rule)'}`;
}

/** Is `v` a variant this compiler knows (the shape of plain data read from a cache)? */
export function isKernelVariant(v: unknown): v is KernelVariant {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  const positive = (k: string) => r[k] === undefined || (Number.isInteger(r[k]) && (r[k] as number) > 0);
  const only = (...keys: string[]) => Object.keys(r).every((k) => k === 'template' || keys.includes(k));
  switch (r.template) {
    case 'gemm':
    case 'conv':
      return only('channels', 'workgroupSize') && positive('channels') && positive('workgroupSize');
    case 'norm':
    case 'tile':
      return only('workgroupSize') && positive('workgroupSize');
    case 'polyconv':
      return (
        only('mode', 'tw', 'th') &&
        (r.mode === undefined || r.mode === 'registers' || r.mode === 'staged') &&
        positive('tw') &&
        positive('th')
      );
    case 'attention':
      return (
        only('queries', 'qRows') &&
        positive('queries') &&
        (r.qRows === undefined || r.qRows === 'registers' || r.qRows === 'reload')
      );
    case 'depthwise':
    case 'elementwise':
      return only();
    default:
      return false;
  }
}

/**
 * A `buildPlan` render callback that renders each unit as `choices` says for its signature (the
 * template's rule for a unit with no choice, or whose choice no longer applies), and counts what
 * it did in `used`.
 */
export function renderChosen(
  choices: ReadonlyMap<string, KernelVariant>,
  used: { chosen: number; stale: number } = { chosen: 0, stale: 0 },
): (unit: Unit) => RenderedKernel {
  return (unit) => {
    const { template, kernel } = selectKernel(unit);
    if (choices.size === 0) return kernel;
    const choice = choices.get(unitSignature(unit, template));
    if (!choice) return kernel;
    const chosen = tryVariant(unit, choice);
    if (chosen) used.chosen++;
    else used.stale++;
    return chosen ?? kernel;
  };
}

function tryVariant(unit: Unit, v: KernelVariant): RenderedKernel | null {
  try {
    return renderVariant(unit, v);
  } catch {
    return null;
  }
}
