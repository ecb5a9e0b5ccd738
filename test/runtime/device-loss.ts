/**
 * Device loss in the middle of a run, one check for every user of the runtime's engine
 * (`WebGpuModel` for `polyc run`, a generated package's `Model`). `navigator.gpu` is replaced by
 * the runtime's GPU (Dawn) whose devices can be told to destroy themselves right after their next
 * submits, so the loss hits between the submit and the readback of a run, on the first device and
 * on the one recreated for the retry.
 */
import { expect } from 'vitest';
import { getGpu, RuntimeError } from '../../runtime/src/index.js';

export interface LossSubject {
  /** Creates the model on the platform's GPU (it must acquire its device through navigator.gpu). */
  create(): Promise<{ run(): Promise<unknown>; destroy(): void }>;
}

interface LossyGpu {
  /** The next `n` submits (on any device) destroy their device right after submitting. */
  loseAfterSubmits(n: number): void;
  restore(): void;
}

const bind = <T extends object>(target: T, key: PropertyKey): unknown => {
  const value = Reflect.get(target, key);
  return typeof value === 'function' ? value.bind(target) : value;
};

async function installLossyGpu(): Promise<LossyGpu> {
  const real = await getGpu();
  let pending = 0;
  const requestDevice = (adapter: GPUAdapter) => async (descriptor?: GPUDeviceDescriptor) => {
    const device = await adapter.requestDevice(descriptor);
    const submit = device.queue.submit.bind(device.queue);
    device.queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
      submit(buffers);
      if (pending > 0) {
        pending--;
        device.destroy();
      }
    };
    return device;
  };
  const gpu = new Proxy(real, {
    get: (target, key) =>
      key === 'requestAdapter'
        ? async (options?: GPURequestAdapterOptions) => {
            const adapter = await target.requestAdapter(options);
            return (
              adapter &&
              new Proxy(adapter, {
                get: (a, k) => (k === 'requestDevice' ? requestDevice(a) : bind(a, k)),
              })
            );
          }
        : bind(target, key),
  });
  const previous = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  return {
    loseAfterSubmits: (n) => {
      pending = n;
    },
    restore: () => {
      if (previous) Object.defineProperty(globalThis, 'navigator', previous);
      else delete (globalThis as { navigator?: unknown }).navigator;
    },
  };
}

/**
 * A device lost during `run()` is recreated and the run retried once, with the same result; lost
 * again during the retry, the run fails with `RuntimeError('device-lost')` naming the stage it was
 * lost in; the next run recovers.
 */
export async function checkDeviceLossDuringRun(subject: LossSubject): Promise<void> {
  const gpu = await installLossyGpu();
  try {
    const model = await subject.create();
    try {
      const healthy = await model.run();
      gpu.loseAfterSubmits(1);
      expect(await model.run()).toEqual(healthy);

      gpu.loseAfterSubmits(2);
      const failure = await model.run().then(
        () => undefined,
        (e: unknown) => e,
      );
      // The bundled runtime of a package has its own RuntimeError class: compare by name and code.
      expect(failure).toBeInstanceOf(Error);
      const e = failure as RuntimeError;
      expect(e.name).toBe(RuntimeError.name);
      expect(e.code).toBe('device-lost');
      expect(e.message).toMatch(
        /^the WebGPU device running ".+" was lost while reading back the outputs, again after it was recreated \(destroyed: /,
      );
      expect(await model.run()).toEqual(healthy);
    } finally {
      model.destroy();
    }
  } finally {
    gpu.restore();
  }
}
