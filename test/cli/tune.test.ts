import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiagnosticError } from '../../compiler/src/diagnostics/diagnostic.js';
import { CONFIRM_MARGIN } from '../../compiler/src/driver/tune.js';
import {
  adapterKey,
  formatTuneCache,
  mergeTuneCache,
  parseTuneCache,
  type TuneCache,
  type TuneEntry,
  tunedChoices,
} from '../../compiler/src/driver/tune-cache.js';
import { cli } from '../helpers.js';

/**
 * `polyc tune` on a tiny model (WebGPU: SwiftShader here; one timed run per variant), its cache
 * file (read, write, merge, corrupt), and `--tune-cache` in `polyc compile` and `polyc run`.
 */

const dir = mkdtempSync(join(tmpdir(), 'polyc-tune-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A GEMM with a LayerNorm prologue and a residual, and a LayerNorm unit: two tunable kernels (the
 * depthwise conv reading y keeps the GEMM out of a tile with the LayerNorm).
 */
const MODEL = join(dir, 'tiny.poly');
writeFileSync(
  MODEL,
  `model tiny(x: f32[B, 16, s, s], s: int = 8) {
  y = pwconv(self.p, layernorm2d(self.n, x), out=16) + x
  return layernorm2d(self.m, y) * dwconv(self.d, y, k=3)
}
`,
);

const entry = (ms: number): TuneEntry => ({
  variant: { template: 'gemm', channels: 4, workgroupSize: 128 },
  ms,
  defaultMs: 2 * ms,
  batch: 1,
  kernel: 'gemm_16x8x8_k16_8x4',
  candidates: [
    { variant: { template: 'gemm' }, ms: 2 * ms },
    { variant: { template: 'gemm', channels: 4, workgroupSize: 128 }, ms },
    { variant: { template: 'gemm', channels: 8, workgroupSize: 64 }, rejected: 'did not compile' },
  ],
});

describe('the tune cache', () => {
  it('merges per adapter and signature, keeping the rest, and round-trips through its text', () => {
    let cache: TuneCache = { version: 1, entries: {} };
    cache = mergeTuneCache(cache, 'gpu b', { 'gemm:x#1': entry(1), 'gemm:x#2': entry(2) });
    cache = mergeTuneCache(cache, 'gpu a', { 'gemm:x#1': entry(3) });
    cache = mergeTuneCache(cache, 'gpu b', { 'gemm:x#2': entry(4), 'gemm:x#3': entry(5) });
    expect(Object.keys(cache.entries['gpu b']!).sort()).toEqual(['gemm:x#1', 'gemm:x#2', 'gemm:x#3']);
    expect(cache.entries['gpu b']!['gemm:x#1']!.ms).toBe(1);
    expect(cache.entries['gpu b']!['gemm:x#2']!.ms).toBe(4);
    expect(cache.entries['gpu a']!['gemm:x#1']!.ms).toBe(3);
    const text = formatTuneCache(cache);
    expect(parseTuneCache(text, 'c.json')).toEqual(cache);
    // Sorted: the same cache always writes the same text.
    expect(Object.keys(JSON.parse(text).entries)).toEqual(['gpu a', 'gpu b']);
  });

  it('names the field that is wrong (E0707)', () => {
    const good = formatTuneCache(
      mergeTuneCache({ version: 1, entries: {} }, 'gpu', { 'gemm:x#1': entry(1) }),
    );
    const problem = (text: string) => {
      try {
        parseTuneCache(text, 'c.json');
      } catch (e) {
        expect(e).toBeInstanceOf(DiagnosticError);
        const [d] = (e as DiagnosticError).diagnostics;
        expect(d!.code).toBe('E0707');
        return d!.message;
      }
      throw new Error('no diagnostic');
    };
    expect(problem('{ "version": 1, "entries": ')).toMatch(/^tune cache c\.json: not JSON/);
    expect(problem('{ "version": 2, "entries": {} }')).toContain('version 2, this polyc reads version 1');
    expect(problem(good.replace('"channels": 4', '"channels": "four"'))).toContain(
      'entries["gpu"]["gemm:x#1"].variant is not a kernel variant',
    );
    expect(problem(good.replace('"template": "gemm"', '"template": "fft"'))).toContain('variant');
    expect(problem(good.replace('"defaultMs": 2', '"defaultMs": -2'))).toContain('ms and defaultMs');
    expect(problem(good.replace('"rejected": "did not compile"', '"rejected": 3'))).toContain(
      'candidates[2]',
    );
  });

  it('chooses the named adapter, or the only one; another adapter gets the defaults, with a note', () => {
    const cache = mergeTuneCache({ version: 1, entries: {} }, 'gpu a', { 'gemm:x#1': entry(1) });
    expect(tunedChoices(cache, undefined, 'c.json')).toMatchObject({ adapter: 'gpu a' });
    expect(tunedChoices(cache, undefined, 'c.json').choices.get('gemm:x#1')).toEqual(entry(1).variant);
    const other = tunedChoices(cache, 'gpu b', 'c.json');
    expect(other.adapter).toBeNull();
    expect(other.choices.size).toBe(0);
    expect(other.note).toBe("tune cache c.json has no choices for adapter 'gpu b': default kernels");
    expect(
      adapterKey({ vendor: 'v', architecture: '', device: 'd', description: 'x', isFallbackAdapter: true }),
    ).toBe('v | - | d | x | fallback');
  });
});

describe('polyc tune', () => {
  const cache = join(dir, 'tune.json');

  it('times the variants of each kernel, prints the table and writes the cache', async () => {
    const r = await cli('tune', MODEL, '--runs', '1', '--cache', cache);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(
      /^\[1\/2\] \S+ \(1 step\(s\)\): default [\d.]+ ms, best .* \(\d+\.\d\dx\), \d+ variants/m,
    );
    expect(r.err).toMatch(/^adapter: .*; timing: (timestamp-query|submit)$/m);
    expect(r.out).toMatch(/^signature +chosen variant +steps +default ms +best ms +speedup +rejected$/m);
    expect(r.out.match(/^(gemm|norm):\S+ +\S+/gm)).toHaveLength(2);
    expect(r.out).toMatch(
      /^tuned 2 kernel\(s\) \(\d+ have no variants\); their steps take [\d.]+ ms by default/m,
    );
    const written = parseTuneCache(readFileSync(cache, 'utf8'), cache);
    const [adapter, ...others] = Object.keys(written.entries);
    expect(others).toEqual([]);
    expect(r.out).toContain(`wrote ${cache}: 2 choice(s) for adapter '${adapter}'`);
    const entries = Object.values(written.entries[adapter!]!);
    for (const e of entries) {
      // The default is the first candidate tried; a choice other than the default was the fastest
      // of the first round and beat the default again, by the margin, when re-timed against it.
      expect(Object.keys(e.candidates[0]!.variant)).toEqual(['template']);
      expect(e.candidates.length).toBeGreaterThan(3);
      const chosen = e.candidates.find((c) => JSON.stringify(c.variant) === JSON.stringify(e.variant))!;
      expect(chosen.rejected).toBeUndefined();
      if (chosen === e.candidates[0]) {
        expect(e.ms).toBe(e.defaultMs);
      } else {
        expect(e.ms).toBeLessThan(e.defaultMs * (1 - CONFIRM_MARGIN));
        expect(chosen.ms).toBe(Math.min(...e.candidates.filter((c) => c.ms !== undefined).map((c) => c.ms!)));
      }
    }
  });

  it('merges into an existing cache, keeping other adapters', async () => {
    const before = parseTuneCache(readFileSync(cache, 'utf8'), cache);
    writeFileSync(cache, formatTuneCache(mergeTuneCache(before, 'another gpu', { 'gemm:x#1': entry(1) })));
    const r = await cli('tune', MODEL, '--set', 's=4', '--runs', '1', '--cache', cache);
    expect(r.code, r.err).toBe(0);
    const after = parseTuneCache(readFileSync(cache, 'utf8'), cache);
    expect(after.entries['another gpu']).toEqual({ 'gemm:x#1': entry(1) });
    const [adapter] = Object.keys(before.entries);
    // The 4x4 model's kernels are new signatures, added to the first model's.
    const kept = Object.keys(before.entries[adapter!]!);
    expect(Object.keys(after.entries[adapter!]!)).toEqual(expect.arrayContaining(kept));
    expect(Object.keys(after.entries[adapter!]!).length).toBeGreaterThan(kept.length);
  });

  it('compile and run use the choices, and say whose', async () => {
    const out = join(dir, 'pkg');
    const ambiguous = await cli('compile', MODEL, '-o', out, '--tune-cache', cache);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.err).toContain('holds choices for 2 adapters; name one with --tune-adapter');
    const written = parseTuneCache(readFileSync(cache, 'utf8'), cache);
    const adapter = Object.keys(written.entries).find((k) => k !== 'another gpu')!;
    const c = await cli('compile', MODEL, '-o', out, '--tune-cache', cache, '--tune-adapter', adapter);
    expect(c.code, c.err).toBe(0);
    expect(c.err).toContain(`note: tune cache ${cache}: 4 tuned kernel choice(s) for adapter '${adapter}'`);
    expect(c.err).toMatch(/ 2 of \d+ steps use a tuned kernel variant/);
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toContain(
      `2 steps use kernel variants tuned for the adapter '${adapter}'`,
    );
    const elsewhere = await cli('compile', MODEL, '-o', out, '--tune-cache', cache, '--tune-adapter', 'nope');
    expect(elsewhere.code, elsewhere.err).toBe(0);
    expect(elsewhere.err).toContain("has no choices for adapter 'nope': default kernels");
    expect(readFileSync(join(out, 'README.md'), 'utf8')).not.toContain('tuned for');

    const run = await cli('run', MODEL, '--backend', 'webgpu', '--tune-cache', cache);
    expect(run.code, run.err).toBe(0);
    expect(run.err).toContain(`for adapter '${adapter}'`);
    expect(run.err).toMatch(/^note: 2 of \d+ steps use a tuned kernel variant$/m);
    const plain = await cli('run', MODEL, '--backend', 'webgpu');
    expect(run.out).toBe(plain.out);
  });

  it('a corrupt cache is E0707, before any work; a missing one is E0702 for compile', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"version": 1, "entries": {"gpu": []}}');
    const t = await cli('tune', MODEL, '--cache', bad);
    expect(t.code).toBe(1);
    expect(t.err).toContain(
      `error[E0707]: tune cache ${bad}: entries["gpu"] must be an object of kernel signatures`,
    );
    const r = await cli('run', MODEL, '--backend', 'webgpu', '--tune-cache', bad);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[E0707]');
    const missing = await cli(
      'compile',
      MODEL,
      '-o',
      join(dir, 'p2'),
      '--tune-cache',
      join(dir, 'none.json'),
    );
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('error[E0702]');
    const lone = await cli('compile', MODEL, '-o', join(dir, 'p3'), '--tune-adapter', 'gpu');
    expect(lone.err).toContain('--tune-adapter needs --tune-cache');
    const interp = await cli('run', MODEL, '--tune-cache', bad);
    expect(interp.err).toContain('--tune-cache needs --backend webgpu');
    const zero = await cli('tune', MODEL, '--runs', '0');
    expect(zero.err).toContain("--runs must be an integer from 1 to 1000, got '0'");
  });
});
