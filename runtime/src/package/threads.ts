import { isNode } from '../device.js';

/**
 * Worker threads for the CPU backend's WebAssembly kernels: `worker_threads` in Node, Web Workers
 * in browsers. Every worker instantiates the same module on the same shared memory and blocks in
 * `Atomics.wait` on a control block until the calling thread posts a kernel call; each thread then
 * runs its share of the call's output channels and the calling thread waits (`Atomics.wait`) until
 * all are done, so the next call sees every output. Blocking waits are not allowed on a browser's
 * main thread: there the kernels run on one thread unless the model itself lives in a worker of a
 * cross-origin-isolated page.
 */

/** The control block, Int32 words: */
const GEN = 0; // bumped for each call (and to quit)
const DONE = 1; // workers done with the current call
const INDEX = 2; // kernel k<index>
const CHANNELS = 3; // output channels in whole tiles
const COUNT = 4; // pointer arguments
const QUIT = 5; // 1: workers return
const FAILED = 6; // 1: a worker's kernel threw
const ARGS = 8; // the pointer arguments
const WORDS = 16;
/** How long the calling thread waits for the workers' shares of one call. */
const WORKER_TIMEOUT_MS = 30_000;

export interface Pool {
  /** Runs `kernel` (export k<index>) over output channels [0, channels) on all threads. */
  run(
    kernel: (...args: number[]) => void,
    index: number,
    channels: number,
    pointers: readonly number[],
  ): void;
  destroy(): void;
}

/** Whether this thread may share memory with workers and block on it: Node, or a worker of a cross-origin-isolated page. */
export function threadsAllowed(): boolean {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return false;
  if (isNode()) return true;
  const g = globalThis as { crossOriginIsolated?: boolean; WorkerGlobalScope?: unknown };
  return g.crossOriginIsolated === true && g.WorkerGlobalScope !== undefined;
}

/** The default thread count: min(4, hardware threads) where threads are allowed, else 1. */
export async function defaultThreads(): Promise<number> {
  if (!threadsAllowed()) return 1;
  let hardware = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  if (hardware === undefined && isNode()) {
    // Node before 21 has no `navigator`. A variable specifier, as in startWorker.
    const specifier = 'node:os';
    hardware = (
      (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as NodeOs
    ).availableParallelism();
  }
  return Math.max(1, Math.min(4, hardware ?? 1));
}

/**
 * Output channels [c0, c1) of thread `index` of `threads`: whole tiles of 4, as even as can be; the
 * last thread's range ends at `channels` (the kernel then also does the partial tile).
 */
function share(channels: number, index: number, threads: number): [number, number] {
  const tiles = channels / 4;
  return [Math.floor((tiles * index) / threads) * 4, Math.floor((tiles * (index + 1)) / threads) * 4];
}

interface WorkerData {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly control: SharedArrayBuffer;
  readonly index: number;
  readonly threads: number;
}

/**
 * A worker's life, run from its source text after `share`'s (so it uses nothing else outside
 * itself, and the control block's words are literals here): instantiate, say ready, then run its
 * share of each posted call.
 */
function workerMain(data: WorkerData, ready: () => void): void {
  const instance = new WebAssembly.Instance(data.module, { env: { memory: data.memory } });
  const kernels = instance.exports as Record<string, (...args: number[]) => void>;
  const c = new Int32Array(data.control);
  ready();
  let gen = 0;
  for (;;) {
    Atomics.wait(c, 0, gen);
    gen = Atomics.load(c, 0);
    if (Atomics.load(c, 5) !== 0) return;
    const args: number[] = [];
    for (let i = 0; i < c[4]!; i++) args.push(c[8 + i]!);
    try {
      kernels[`k${c[2]}`]!(...args, ...share(c[3]!, data.index, data.threads));
    } catch {
      Atomics.store(c, 6, 1);
    }
    Atomics.add(c, 1, 1);
    Atomics.notify(c, 1);
  }
}

interface Thread {
  terminate(): void;
}

// The parts of Node's modules used here: the runtime typechecks without Node's types (browser-safe).
interface NodeOs {
  availableParallelism(): number;
}
interface NodeWorker {
  once(event: 'message' | 'error', listener: (value: unknown) => void): void;
  unref(): void;
  terminate(): Promise<number>;
}
interface NodeWorkerThreads {
  Worker: new (source: string, options: { eval: true; workerData: unknown }) => NodeWorker;
}

/** Starts worker `data.index` and resolves once its instance is ready. */
async function startWorker(data: WorkerData): Promise<Thread> {
  // Function declarations keep their (possibly bundler-renamed) names in their text.
  const [shared, main] = [share.toString(), `(${workerMain.toString()})`];
  if (isNode()) {
    // A variable specifier, as for `webgpu` in device.ts: bundlers and browsers leave it alone.
    const specifier = 'node:worker_threads';
    const { Worker } = (await import(
      /* @vite-ignore */ /* webpackIgnore: true */ specifier
    )) as NodeWorkerThreads;
    const source = `const { workerData, parentPort } = require('node:worker_threads');
${shared}
${main}(workerData, () => parentPort.postMessage('ready'));`;
    const worker = new Worker(source, { eval: true, workerData: data });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    // A model that is never destroyed must not keep the process alive.
    worker.unref();
    return { terminate: () => void worker.terminate() };
  }
  const source = `${shared}\nonmessage = (e) => ${main}(e.data, () => postMessage('ready'));`;
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const worker = new Worker(url);
  try {
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = () => resolve();
      worker.onerror = (e) => reject(new Error(e.message));
      worker.postMessage(data);
    });
  } finally {
    URL.revokeObjectURL(url);
  }
  return { terminate: () => worker.terminate() };
}

/**
 * `workers` workers running `module` on `memory` (shared), or null if one could not start (the
 * kernels then run on the calling thread alone).
 */
export async function startPool(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  workers: number,
): Promise<Pool | null> {
  const control = new SharedArrayBuffer(WORDS * 4);
  const c = new Int32Array(control);
  const threads = workers + 1;
  const started = await Promise.allSettled(
    Array.from({ length: workers }, (_, i) =>
      startWorker({ module, memory, control, index: i + 1, threads }),
    ),
  );
  const pool = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const quit = () => {
    Atomics.store(c, QUIT, 1);
    Atomics.add(c, GEN, 1);
    Atomics.notify(c, GEN);
    for (const t of pool) t.terminate();
  };
  if (pool.length < workers) {
    quit();
    return null;
  }
  return {
    run(kernel, index, channels, pointers) {
      c[INDEX] = index;
      c[CHANNELS] = channels;
      c[COUNT] = pointers.length;
      c.set(pointers, ARGS);
      Atomics.store(c, DONE, 0);
      Atomics.add(c, GEN, 1);
      Atomics.notify(c, GEN);
      kernel(...pointers, ...share(channels, 0, threads));
      // A worker that died (killed, out of memory) never reports: fail after a bound rather than
      // block forever. One split GEMM takes milliseconds.
      const deadline = Date.now() + WORKER_TIMEOUT_MS;
      for (let done = Atomics.load(c, DONE); done !== workers; done = Atomics.load(c, DONE)) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(
            `a worker thread did not finish kernel k${index} within ${WORKER_TIMEOUT_MS / 1000} s`,
          );
        }
        Atomics.wait(c, DONE, done, left);
      }
      if (Atomics.exchange(c, FAILED, 0) !== 0) throw new Error(`kernel k${index} failed in a worker thread`);
    },
    destroy: quit,
  };
}
