import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWeights } from '../../compiler/src/driver/run.js';
import { interpret } from '../../compiler/src/ir/interpret.js';
import { preprocessImage } from '../../runtime/src/package/preprocess.js';
import { topk } from '../../runtime/src/tensor.js';
import { buildExample, cli } from '../helpers.js';

/**
 * README's first command, as a user meets it: `npm ci && npm run build && polyc compile ... -o <dir>
 * && node examples/classify.mjs <dir> <image>`. The compile runs in-process (`bin/polyc.js` runs
 * the same `runCli` from the build) into a temporary directory whose parent does not exist yet; the
 * classify script runs as its own process on the package, and its labels and probabilities are
 * the interpreter's on the same preprocessed image.
 */

const dir = mkdtempSync(join(tmpdir(), 'polyc-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const readme = readFileSync('README.md', 'utf8');
/** The first indented code line: the first command. */
const first = /^ {4}(\S.*)$/m.exec(readme)![1]!;
const steps = first.split(' && ');

describe("README's first command", () => {
  it('builds, compiles an example with a shipped checkpoint into a package, and classifies a shipped image', () => {
    expect(first).not.toMatch(/["'`$\\|;<>]/); // plain words: split on spaces below, as the shell does
    expect(steps.slice(0, 2)).toEqual(['npm ci', 'npm run build']);
    expect(steps[2]).toMatch(/^node bin\/polyc\.js compile /);
    expect(steps[3]).toMatch(/^node examples\/classify\.mjs /);
    expect(steps).toHaveLength(4);
  });

  it('prints labels and probabilities equal to the interpreter', async () => {
    const compile = steps[2]!.split(' ').slice(2);
    const o = compile.indexOf('-o');
    const pkg = compile[o + 1]!;
    const out = join(dir, 'not-yet', 'pkg');
    compile[o + 1] = out;
    const r = await cli(...compile);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`wrote ${out}: npm package`);

    const [script, pkgArg, image] = steps[3]!.split(' ').slice(1);
    expect(pkgArg).toBe(pkg);
    const run = spawnSync(process.execPath, [script!, out, image!], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${image} \\(64x48\\), cpolynext_lr on (cpu|webgpu) \\(.+\\):$`));
    const printed = lines.slice(1).map((l) => /^ {2}(\S+) +(\d+\.\d)%$/.exec(l)!.slice(1));

    // The reference: the model as written, the checkpoint, the package's preprocessing of the PNG.
    const arg = (name: string) => compile[compile.indexOf(name) + 1]!;
    const settings = Object.fromEntries(
      compile.flatMap((a, i) => (compile[i - 1] === '--set' ? [a.split('=') as [string, string]] : [])),
    );
    const m = buildExample(compile[1]!, settings);
    const weights = loadWeights(m, readFileSync(arg('--weights')), 'weights.pt');
    const png = PNG.sync.read(readFileSync(image!));
    const size = Number(settings.image_size);
    const spec = {
      size,
      resize: Math.round((size * 232) / 224),
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    };
    const input = preprocessImage(png, spec);
    const [logits] = interpret(m, [{ shape: [1, 3, size, size], data: input }], weights);
    const max = Math.max(...logits!.data);
    const sum = logits!.data.reduce((a, v) => a + Math.exp(v - max), 0);
    const labels = readFileSync(arg('--labels'), 'utf8').trim().split('\n');
    const expected = topk(logits!, 5)[0]!;
    // The closest two logits of the five differ by 7e-5, far more than the backends' 1e-5 relative error.
    expect(printed.map((p) => p[0])).toEqual(expected.map((e) => labels[e.index]));
    printed.forEach(([, prob], i) => {
      expect(Math.abs(Number(prob) - (100 * Math.exp(expected[i]!.value - max)) / sum)).toBeLessThan(0.051);
    });
  }, 300_000);
});
