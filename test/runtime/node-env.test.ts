import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * WebGPU in Node without noise: `polyc` run as a process (through tsx, so no build is needed) with
 * the environment a user has. Without XDG_RUNTIME_DIR Dawn (libwayland) would print "XDG_RUNTIME_DIR
 * is invalid" twice; the runtime gives it a private directory first. Without a usable Vulkan driver
 * the `no-adapter` error says so (not "install webgpu", which is installed).
 */

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const dir = mkdtempSync(join(tmpdir(), 'polyc-node-env-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** One elementwise kernel: loading Dawn and the adapter is most of the run. */
const model = join(dir, 'square.poly');
writeFileSync(model, 'model square(x: f32[B, 4]) {\n  return x * x\n}\n');

const CLI =
  "const { runCli } = await import('./compiler/src/cli/main.ts'); process.exitCode = await runCli(process.argv.slice(1));";

function polyc(env: Record<string, string | undefined>, ...args: string[]) {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => k !== 'XDG_RUNTIME_DIR' && k !== 'VK_ICD_FILENAMES'),
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CLI, ...args], {
    encoding: 'utf8',
    env: { ...base, ...env },
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const RUN = ['run', model, '--backend', 'webgpu', '--input-shape', '1,4'];

describe('WebGPU in Node', () => {
  it('prints no Dawn warning when XDG_RUNTIME_DIR is unset', () => {
    // Never skipped: without SwiftShader's ICD (apt-get install chromium libvulkan1) this fails.
    expect(statSync(SWIFTSHADER_ICD, { throwIfNoEntry: false }), SWIFTSHADER_ICD).toBeTruthy();
    const r = polyc({ VK_ICD_FILENAMES: SWIFTSHADER_ICD }, ...RUN);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^image 0: /m);
    // Only polyc's own lines: the random weights and input it was told to use.
    expect(r.err.trim().split('\n')).toEqual([
      'warning: no --weights given: running deterministic random weights (seed 0), not a trained model',
      'note: no --input given: a deterministic random input [1, 4]',
    ]);
  }, 180_000);

  it('keeps a valid XDG_RUNTIME_DIR, and replaces a missing one by a private directory', () => {
    const script = `const { getGpu } = await import('./runtime/src/device.ts');
await getGpu().catch(() => {});
const { statSync } = await import('node:fs');
const d = process.env.XDG_RUNTIME_DIR;
console.log(JSON.stringify({ dir: d, mode: (statSync(d).mode & 0o777).toString(8) }));`;
    const run = (xdg: string) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        encoding: 'utf8',
        env: { ...process.env, XDG_RUNTIME_DIR: xdg },
      });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { dir: string; mode: string };
    };
    expect(run(dir).dir).toBe(dir);
    const replaced = run(join(dir, 'gone'));
    expect(replaced.dir).toMatch(/polyc-xdg-/);
    expect(replaced.mode).toBe('700');
    // Removed when the process exits.
    expect(statSync(replaced.dir, { throwIfNoEntry: false })).toBeUndefined();
  });

  it('no-adapter names the Vulkan driver VK_ICD_FILENAMES points to, not the webgpu package', () => {
    const missing = join(dir, 'no-such-icd.json');
    const r = polyc({ VK_ICD_FILENAMES: missing }, ...RUN);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[E0706]: WebGPU: WebGPU found no adapter');
    expect(r.err).toContain(`VK_ICD_FILENAMES names '${missing}', which does not exist`);
    expect(r.err).toContain('The `webgpu` package (Dawn) is installed');
    expect(r.err).not.toContain('npm i');
    if (statSync(SWIFTSHADER_ICD, { throwIfNoEntry: false })) {
      expect(r.err).toContain(`VK_ICD_FILENAMES=${SWIFTSHADER_ICD}`);
    }
  }, 180_000);
});
