import { describe, expect, it } from 'vitest';
import { cli } from '../helpers.js';

/** `polyc run --backend webgpu --profile` with random weights and input (WebGPU: SwiftShader here). */
describe('polyc run --profile', () => {
  const LR = ['run', 'examples/cpolynext_lr.poly', '--set', 'init_channels=16', '--set', 'num_classes=10'];

  it('prints time per kernel kind and the top kernels, on random weights and input', async () => {
    const r = await cli(
      ...LR,
      '--backend',
      'webgpu',
      '--profile',
      '--repeats',
      '1',
      '--input-shape',
      '2,3,32,32',
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('warning: no --weights given');
    expect(r.err).toContain('a deterministic random input [2, 3, 32, 32]');
    expect(r.err).toMatch(/^profile: batch 2, \d+ dispatched steps of \d+, on /m);
    expect(r.err).toMatch(/^kind +steps +kernels +ms +% +GFLOP +MiB +GFLOP\/s +GB\/s$/m);
    expect(r.err).toMatch(/^total +\d+ +\d+ +[\d.]+ +100\.0 /m);
    expect(r.err).toMatch(/^top 10 kernels \(of \d+\):$/m);
    expect(r.err.match(/^\d+ +[a-z]\S* +\d+ +[\d.]+ /gm)).toHaveLength(10);
    expect(r.out.match(/^image \d: /gm)).toHaveLength(2);
  });

  it('refuses --profile without webgpu and a bad --repeats', async () => {
    const a = await cli(...LR, '--profile');
    expect(a.code).toBe(1);
    expect(a.err).toContain('--profile needs --backend webgpu');
    const b = await cli(...LR, '--backend', 'webgpu', '--profile', '--repeats', '0');
    expect(b.code).toBe(1);
    expect(b.err).toContain("--repeats must be an integer from 1 to 1000, got '0'");
    // A count that would keep the profile running for days is refused at once.
    const c = await cli(...LR, '--backend', 'webgpu', '--profile', '--repeats', '1000000');
    expect(c.code).toBe(1);
    expect(c.err).toContain("--repeats must be an integer from 1 to 1000, got '1000000'");
  });
});
