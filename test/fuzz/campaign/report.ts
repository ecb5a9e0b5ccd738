import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type GeneratorName, generator } from './generators.js';
import { type CampaignResult, type CaseRecord, regenerate } from './pool.js';

/**
 * The campaign's markdown report and reproducer files: per generator the cases, successes,
 * diagnostics by code, failures (grouped by reason and first message line, with the shrunk
 * input's files), hangs and memory verdicts, cases per second; the peak memory and the slowest inputs.
 */

const MB = 2 ** 20;

function isProblem(r: CaseRecord): boolean {
  return r.verdict.kind === 'failure' || r.verdict.kind === 'hang' || r.verdict.kind === 'memory';
}

function headline(r: CaseRecord): string {
  const v = r.verdict;
  if (v.kind === 'failure') return `${v.reason}: ${v.message.split('\n')[0]!.slice(0, 120)}`;
  if (v.kind === 'hang') return `hang (> ${v.ms} ms)`;
  if (v.kind === 'memory') return `memory: ${v.message}`;
  return v.kind;
}

/** Writes the reproducers of every problem case into `dir`; returns the command per case index. */
export function writeReproducers(result: CampaignResult, dir: string): Map<number, string> {
  const commands = new Map<number, string>();
  const problems = result.records.filter(isProblem);
  if (problems.length === 0) return commands;
  mkdirSync(dir, { recursive: true });
  for (const r of problems) {
    const g = generator(r.generator);
    const input = r.shrunk?.input ?? r.input;
    if (input === undefined) continue;
    const stem = `${r.generator}-${r.index}`;
    const { files, command } = g.repro(input, stem);
    for (const f of files) writeFileSync(join(dir, f.name), f.data);
    commands.set(r.index, command);
    // Shrinking may cross from one generator family to another: the original is kept too.
    if (r.shrunk && r.input !== undefined) {
      for (const f of g.repro(r.input, `${stem}-original`).files) writeFileSync(join(dir, f.name), f.data);
    }
  }
  return commands;
}

export function renderReport(
  result: CampaignResult,
  commands: ReadonlyMap<number, string>,
  command: string,
): string {
  const { records, options } = result;
  const names = [...new Set(records.map((r) => r.generator))] as GeneratorName[];
  const lines: string[] = [];
  const L = (s = ''): void => {
    lines.push(s);
  };
  const problems = records.filter(isProblem);
  L('# polyc fuzz campaign');
  L();
  L(`- command: \`${command}\``);
  L(`- date: ${new Date().toISOString()}`);
  L(
    `- ${records.length} cases, seed ${options.seed}, ${result.workers} workers, time-out ${options.timeoutMs} ms per case, ` +
      `heap limit ${options.heapMb ?? 512} MiB and resident cap ${options.rssMb ?? 1024} MiB per worker`,
  );
  L(
    `- wall time ${(result.wallMs / 1000).toFixed(1)} s (${(records.length / (result.wallMs / 1000)).toFixed(1)} cases/s)`,
  );
  L(
    `- peak memory: resident ${(result.peakWorkerRss / MB).toFixed(0)} MiB per worker (sampled every 20 ms), ` +
      `${(result.peakMainRss / MB).toFixed(0)} MiB for the pool; after a case, a worker's heap ` +
      `${(result.peakWorkerHeap / MB).toFixed(0)} MiB and array buffers ${(result.peakWorkerArrayBuffers / MB).toFixed(0)} MiB at most`,
  );
  L(
    `- **${problems.length === 0 ? 'no failures, hangs or memory verdicts' : `${problems.length} problem cases`}**`,
  );
  L();
  L(
    '| target | cases | ok | diagnostic | failures | hangs | memory | ms/case (worker) | ms/case without hangs | cases/s per worker without hangs |',
  );
  L('|---|---|---|---|---|---|---|---|---|---|');
  for (const name of names) {
    const rs = records.filter((r) => r.generator === name);
    const count = (k: string): number => rs.filter((r) => r.verdict.kind === k).length;
    const busy = result.busyMs.get(name) ?? 0;
    // Hangs and memory verdicts cost their time-out, which a compiler with limits does not pay.
    const finished = rs.filter((r) => r.verdict.kind !== 'hang' && r.verdict.kind !== 'memory');
    const finishedMs = finished.reduce((t, r) => t + r.ms, 0);
    L(
      `| ${name} | ${rs.length} | ${count('ok')} | ${count('diagnostic')} | ${count('failure')} | ${count('hang')} | ${count('memory')} | ` +
        `${(busy / rs.length).toFixed(1)} | ${(finishedMs / finished.length).toFixed(1)} | ${((finished.length * 1000) / finishedMs).toFixed(0)} |`,
    );
  }
  L();
  L('## Diagnostics by code');
  L();
  L('| target | codes (cases) |');
  L('|---|---|');
  for (const name of names) {
    const byCode = new Map<string, number>();
    for (const r of records)
      if (r.generator === name && r.verdict.kind === 'diagnostic')
        for (const c of r.verdict.codes) byCode.set(c, (byCode.get(c) ?? 0) + 1);
    const text = [...byCode]
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(', ');
    L(`| ${name} | ${text || '-'} |`);
  }
  L();
  L('## Failures, hangs, memory');
  L();
  if (problems.length === 0) L('None.');
  else {
    const groups = new Map<string, CaseRecord[]>();
    for (const r of problems) {
      const key = `${r.generator}: ${headline(r)}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    for (const [key, rs] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
      L(`### ${key} (${rs.length} cases)`);
      L();
      for (const r of rs.slice(0, 3)) {
        const g = generator(r.generator);
        const input = r.shrunk?.input ?? r.input;
        const shrunk = r.shrunk ? ' (shrunk)' : '';
        L(`- case ${r.index}${shrunk}: ${input === undefined ? '(input lost)' : g.describe(input)}`);
        if (r.shrunk && r.input !== undefined) L(`  - original: ${g.describe(r.input)}`);
        const cmd = commands.get(r.index);
        if (cmd) L(`  - replay: \`${cmd}\``);
      }
      L();
    }
  }
  L('## Slowest inputs');
  L();
  L('| target | case | ms | verdict | input |');
  L('|---|---|---|---|---|');
  const slow = [...records].sort((a, b) => b.ms - a.ms).slice(0, 10);
  for (const r of slow) {
    // Inputs are kept for problem cases only; the others are made again from their seed.
    const input = r.input ?? regenerate(r.generator, r.seed, r.index);
    const cell = (s: string): string => s.replace(/\|/g, '\\|');
    L(
      `| ${r.generator} | ${r.index} | ${r.ms.toFixed(0)} | ${cell(headline(r))} | ${cell(generator(r.generator).describe(input))} |`,
    );
  }
  L();
  return lines.join('\n');
}
