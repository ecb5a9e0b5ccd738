import type { KernelProfile, Profile, ProfileTotals } from '../../../runtime/src/index.js';

/**
 * Text renderings of a runtime `Profile` (runtime/src/profile.ts): the plain-text tables
 * `polyc run --profile` prints, and the markdown rows the benchmark report embeds.
 */

const gflop = (n: number) => (n / 1e9).toFixed(3);
const mib = (n: number) => (n / 2 ** 20).toFixed(1);
const pct = (share: number) => (100 * share).toFixed(1);

/** How the times were taken, in words, for headers. */
export function describeTiming(p: Profile): string {
  const how =
    p.timing === 'timestamp-query'
      ? 'GPU timestamps, one compute pass per step'
      : 'each step encoded, submitted and awaited alone (host time, includes submit overhead)';
  return `${how}; median of ${p.repeats} repeat(s)`;
}

/** A kernel's name, or its key (`name#hash`) where kernels with different WGSL share the name. */
function kernelLabel(p: Profile, k: KernelProfile): string {
  return p.kernels.some((o) => o !== k && o.name === k.name) ? k.key : k.name;
}

/** The numeric columns every table shares. */
function cells(t: ProfileTotals): string[] {
  return [
    t.ms.toFixed(2),
    pct(t.share),
    gflop(t.flops),
    mib(t.bytes),
    t.gflopsPerSecond.toFixed(2),
    t.gbPerSecond.toFixed(2),
  ];
}
const NUMERIC = ['ms', '%', 'GFLOP', 'MiB', 'GFLOP/s', 'GB/s'];

/** Columns padded to their widest cell: the first `left` columns left-aligned, the rest right. */
export function table(rows: readonly (readonly string[])[], left: number): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c < left ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** Time per kernel kind and the `top` slowest kernels, as `polyc run --profile` prints them. */
export function formatProfile(p: Profile, top = 10): string {
  const dispatched = p.steps.filter((s) => s.dispatched).length;
  const kinds = table(
    [
      ['kind', 'steps', 'kernels', ...NUMERIC],
      ...p.kinds.map((k) => [k.kind, String(k.calls), String(k.kernels), ...cells(k)]),
      ['total', String(p.calls), String(p.kernels.length), ...cells(p)],
    ],
    1,
  );
  const kernels = table(
    [
      ['#', 'kernel', 'calls', ...NUMERIC],
      ...p.kernels
        .slice(0, top)
        .map((k, i) => [String(i + 1), kernelLabel(p, k), String(k.calls), ...cells(k)]),
    ],
    2,
  );
  return [
    `profile: batch ${p.batch}, ${dispatched} dispatched steps of ${p.steps.length}, on ${p.adapterInfo}`,
    `timing: ${describeTiming(p)}`,
    `total ${p.ms.toFixed(1)} ms (sum of steps); FLOPs from the cost analysis, bytes = activations read and written (weights not counted)`,
    '',
    'time per kernel kind:',
    ...kinds,
    '',
    `top ${Math.min(top, p.kernels.length)} kernels (of ${p.kernels.length}):`,
    ...kernels,
  ].join('\n');
}

/** The `top` slowest kernels as a markdown table (for benchmark reports). */
export function profileMarkdown(p: Profile, top = 10): string {
  const head = ['kernel', 'kind', 'calls', ...NUMERIC];
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...p.kernels
      .slice(0, top)
      .map((k) => `| ${[`\`${kernelLabel(p, k)}\``, k.kind, String(k.calls), ...cells(k)].join(' | ')} |`),
  ].join('\n');
}
