import { describe, expect, it } from 'vitest';
import { type AdapterIdentity, isSoftwareAdapter } from '../../runtime/src/device.js';

/**
 * Which WebGPU adapters a package's `backend: 'auto'` leaves for the CPU backend: those that say
 * they are a fallback, and those that name a software implementation without saying so.
 */

const adapter = (fields: Partial<AdapterIdentity>): AdapterIdentity => ({
  vendor: '',
  architecture: '',
  device: '',
  description: '',
  isFallbackAdapter: false,
  ...fields,
});

describe('isSoftwareAdapter', () => {
  it('is true for fallback adapters and for SwiftShader, lavapipe/llvmpipe and WARP by name', () => {
    for (const id of [
      adapter({ isFallbackAdapter: true, vendor: 'some vendor' }),
      adapter({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0' }),
      adapter({ vendor: 'mesa', device: 'llvmpipe (LLVM 15.0.6, 256 bits)' }),
      adapter({ vendor: 'mesa', description: 'lavapipe' }),
      adapter({ vendor: 'microsoft', description: 'Microsoft Basic Render Driver' }),
      adapter({ vendor: 'microsoft', architecture: 'WARP' }),
    ]) {
      expect(isSoftwareAdapter(id), JSON.stringify(id)).toBe(true);
    }
  });
  it('is false for hardware adapters, whatever their names contain', () => {
    for (const id of [
      adapter({ vendor: 'nvidia', architecture: 'ada', description: 'NVIDIA GeForce RTX 4090' }),
      adapter({ vendor: 'apple', architecture: 'metal-3', description: 'Apple M2' }),
      adapter({ vendor: 'intel', architecture: 'gen-12lp', description: 'Intel(R) Iris(R) Xe (warped)' }),
      adapter({ vendor: 'amd', description: 'AMD Radeon (RADV NAVI21)' }),
    ]) {
      expect(isSoftwareAdapter(id), JSON.stringify(id)).toBe(false);
    }
  });
});
