import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** Shared by the benchmarks: timing and the sectioned report file. */

/**
 * Writes `content` as the named section of a markdown report, keeping the other sections: each
 * benchmark owns the text between `<!-- name -->` and `<!-- /name -->`.
 */
export function writeSection(file: string, name: string, content: string): void {
  const open = `<!-- ${name} -->`;
  const close = `<!-- /${name} -->`;
  const block = `${open}\n${content.trim()}\n${close}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  text =
    start >= 0 && end > start
      ? text.slice(0, start) + block + text.slice(end + close.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The median wall time of `runs` calls after `warmup` calls, and the last result. */
export async function timeRuns(
  fn: () => Promise<Float32Array>,
  warmup: number,
  runs: number,
): Promise<{ ms: number; out: Float32Array }> {
  let out: Float32Array = new Float32Array();
  for (let i = 0; i < warmup; i++) out = await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    out = await fn();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), out };
}
