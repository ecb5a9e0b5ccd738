import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// WebGPU in tests (Node: the `webgpu` package, Dawn; Chromium) runs on SwiftShader's Vulkan driver
// from Debian's `chromium` package when there is no GPU. Without VK_ICD_FILENAMES Dawn finds no
// adapter here; XDG_RUNTIME_DIR must be a 0700 directory or Dawn warns. Both only when unset.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const vulkanIcd = process.env.VK_ICD_FILENAMES ?? (existsSync(SWIFTSHADER_ICD) ? SWIFTSHADER_ICD : undefined);
const xdgRuntimeDir = process.env.XDG_RUNTIME_DIR ?? join(tmpdir(), `polyc-xdg-${process.getuid?.() ?? 0}`);
mkdirSync(xdgRuntimeDir, { recursive: true, mode: 0o700 });

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Vitest's default is one worker per core minus one: a single worker on CI's 2 cores, which
    // leaves a core idle while a file waits on Chromium, a child process or SwiftShader's queue.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    env: { XDG_RUNTIME_DIR: xdgRuntimeDir, ...(vulkanIcd ? { VK_ICD_FILENAMES: vulkanIcd } : {}) },
  },
});
