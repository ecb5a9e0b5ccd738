import { RuntimeError, type RuntimeErrorCode } from '../device.js';
import { checkInput, type Prediction, topkRows } from './check.js';
import { ModelError, type ModelErrorCode } from './errors.js';
import type { ImageSource } from './image.js';

/**
 * A package's model in a dedicated Web Worker (`Model.createInWorker`): the page's main thread
 * stays responsive while the model loads and runs, and in a cross-origin-isolated page the CPU
 * kernels may use threads there (blocking waits are not allowed on the main thread). The worker
 * runs the package's own index.js, started under the name `MODEL_WORKER`; index.js then serves
 * `Model.create` and `run` over messages (`serveModel`), and a `WorkerModel` is the page's handle.
 */

/** The name of the worker `createInWorker` starts: index.js serves the model when it runs under it. */
export const MODEL_WORKER = 'polyc-model';

/** What the worker says about the model it created. */
export interface WorkerModelInfo {
  readonly backend: 'webgpu' | 'cpu';
  readonly adapterInfo: string;
  readonly fallbackReason: string | undefined;
  readonly cpuKernels: 'wasm-simd' | 'js' | undefined;
  readonly threads: number;
}

interface Served extends WorkerModelInfo {
  run(input: Float32Array, options: { batch: number }): Promise<{ logits: Float32Array }>;
  destroy(): void;
}

/** Options that travel to the worker: no device (it stays in the page), weights as a URL or bytes. */
export interface WorkerCreateOptions {
  readonly backend?: 'auto' | 'webgpu' | 'cpu';
  readonly cpuKernels?: 'wasm-simd' | 'js';
  readonly threads?: number;
  readonly weights?: string | URL | ArrayBuffer | ArrayBufferView;
  /** As `Model.create`'s: the Cache API is available in workers too. */
  readonly cache?: boolean | string;
  readonly onProgress?: (loaded: number, total: number) => void;
  /**
   * As `Model.create`'s: aborting it while the model is created stops the worker and rejects with
   * `ModelError('aborted')`. It stays in the page (a signal cannot be sent to a worker).
   */
  readonly signal?: AbortSignal;
}

interface WorkerScope {
  readonly name?: string;
  onmessage: ((e: { data: Request }) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

type Request =
  | { id: number; op: 'create'; options: Omit<WorkerCreateOptions, 'onProgress'> }
  | { id: number; op: 'run'; input: Float32Array; batch: number }
  | { id: number; op: 'destroy' };

/** A request before its id is given (Omit on each member of the union). */
type Unsent = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

type Reply =
  | { id: number; progress: [number, number] }
  | { id: number; result: unknown }
  | { id: number; error: { name: string; code: string; message: string } };

/** Whether this is the worker `createInWorker` started on index.js. */
export function isModelWorker(): boolean {
  const g = globalThis as { WorkerGlobalScope?: unknown; name?: unknown };
  return g.WorkerGlobalScope !== undefined && g.name === MODEL_WORKER;
}

/** In the model worker: creates the model on request, runs it, destroys it. */
export function serveModel(create: (options: WorkerCreateOptions) => Promise<Served>): void {
  const scope = globalThis as unknown as WorkerScope;
  let model: Served | undefined;
  const reply = (message: Reply, transfer: Transferable[] = []) => scope.postMessage(message, transfer);
  scope.onmessage = async ({ data }) => {
    const { id } = data;
    try {
      if (data.op === 'create') {
        model = await create({
          ...data.options,
          onProgress: (loaded, total) => reply({ id, progress: [loaded, total] }),
        });
        const { backend, adapterInfo, fallbackReason, cpuKernels, threads } = model;
        reply({ id, result: { backend, adapterInfo, fallbackReason, cpuKernels, threads } });
      } else if (data.op === 'run') {
        const { logits } = await model!.run(data.input, { batch: data.batch });
        reply({ id, result: logits }, [logits.buffer as ArrayBuffer]);
      } else {
        model?.destroy();
        model = undefined;
        reply({ id, result: null });
      }
    } catch (e) {
      const error = e as { name?: string; code?: string; message?: string };
      reply({
        id,
        error: { name: String(error.name), code: String(error.code), message: String(error.message ?? e) },
      });
    }
  };
}

/** A package's model running in a Web Worker: `Model`'s API, with `run` answered by the worker. */
export interface WorkerModel extends WorkerModelInfo {
  /** As `Model.run`: the input is checked here, copied to the worker, the logits come back. */
  run(input: Float32Array, options?: { readonly batch?: number }): Promise<{ logits: Float32Array }>;
  /** The k largest logits of each image, largest first, with labels and probabilities (computed here). */
  topk(logits: Float32Array, k?: number): Prediction[][];
  /** As `Model.classify`: the image is read and preprocessed here (the page has the DOM), run in the worker. */
  classify(image: ImageSource, k?: number): Promise<Prediction[]>;
  /** Frees the model in the worker and stops the worker. */
  destroy(): void;
}

/** The model's shapes and preprocessing, for the checks, `topk` and `classify` done on the page's side. */
interface Shape {
  readonly inputShape: readonly number[];
  readonly maxBatch: number;
  readonly classes: number;
  readonly labels: readonly string[] | null;
  /** One image as the model's input (the package's `preprocess` after `readImage`). */
  readonly prepare: (image: ImageSource) => Promise<Float32Array>;
}

/**
 * Starts a worker on the package's index.js (`start()`, called only where Web Workers exist) and
 * creates the model there. `start` is index.js's own
 * `() => new Worker(new URL('./index.js', import.meta.url), { type: 'module', name: 'polyc-model' })`:
 * written out literally there because that is the form bundlers (Vite, webpack, Parcel) recognise
 * and rewrite into a worker entry of their own; a URL computed here from `import.meta.url` would
 * name the app's bundle (Vite) or the source file on disk (webpack) instead. Throws
 * `ModelError('bad-options')` where Web Workers are unavailable (Node: use `Model.create`, whose
 * kernels use worker_threads), else what `Model.create` throws in the worker.
 */
export async function startModelWorker(
  // A DOM `Worker` (typed loosely: its handlers' event types are the DOM's, not BrowserWorker's).
  start: () => object,
  options: WorkerCreateOptions,
  shape: Shape,
): Promise<WorkerModel> {
  if ((globalThis as { Worker?: unknown }).Worker === undefined) {
    throw new ModelError(
      'bad-options',
      'createInWorker needs Web Workers (a browser); use Model.create here',
    );
  }
  const { onProgress, weights, signal, ...rest } = options;
  const aborted = () =>
    new ModelError('aborted', `creating the model in its worker was aborted: ${String(signal?.reason)}`);
  if (signal?.aborted) throw aborted();
  const connection = new Connection(start() as BrowserWorker);
  const onAbort = () => connection.fail(aborted());
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const info = (await connection.call(
      {
        op: 'create',
        options: { ...rest, ...(weights === undefined ? {} : { weights: portable(weights) }) },
      },
      [],
      onProgress,
    )) as WorkerModelInfo;
    const model: WorkerModel = {
      ...info,
      async run(input, options = {}) {
        const batch = checkInput(input, options.batch, shape.inputShape, shape.maxBatch);
        const copy = input.slice();
        const logits = (await connection.call({ op: 'run', input: copy, batch }, [
          copy.buffer,
        ])) as Float32Array;
        return { logits };
      },
      topk: (logits, k = 5) => topkRows(logits, shape.classes, k, shape.labels),
      async classify(image, k = 5) {
        const { logits } = await model.run(await shape.prepare(image), { batch: 1 });
        return model.topk(logits, k)[0]!;
      },
      destroy() {
        void connection.call({ op: 'destroy' }, []).finally(() => connection.close());
      },
    };
    return model;
  } catch (e) {
    connection.close();
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

interface BrowserWorker {
  onmessage: ((e: { data: Reply }) => void) | null;
  onerror: ((e: { message: string }) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
  terminate(): void;
}

/** Weights as the worker can receive them: a URL as its absolute text, bytes copied. */
function portable(
  weights: string | URL | ArrayBuffer | ArrayBufferView,
): string | ArrayBuffer | ArrayBufferView {
  if (weights instanceof URL) return weights.href;
  // A relative URL means the page's: in the worker it would resolve against the worker's script
  // (a bundler's chunk in its assets directory).
  const base = (globalThis as { document?: { baseURI?: string } }).document?.baseURI;
  return typeof weights === 'string' && base ? new URL(weights, base).href : weights;
}

/** Request/reply over one worker, by id; a worker error fails every pending call. */
class Connection {
  private next = 0;
  private readonly pending = new Map<
    number,
    {
      resolve: (v: unknown) => void;
      reject: (e: Error) => void;
      progress?: (loaded: number, total: number) => void;
    }
  >();

  constructor(private readonly worker: BrowserWorker) {
    worker.onmessage = ({ data }) => {
      const call = this.pending.get(data.id);
      if (!call) return;
      if ('progress' in data) {
        call.progress?.(...data.progress);
        return;
      }
      this.pending.delete(data.id);
      if ('error' in data) call.reject(rebuild(data.error));
      else call.resolve(data.result);
    };
    worker.onerror = (e) => this.reject(new Error(`the model worker failed: ${e.message}`));
  }

  /** Stops the worker and rejects every pending call with `error`. */
  fail(error: Error): void {
    this.close();
    this.reject(error);
  }

  private reject(error: Error): void {
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
  }

  call(
    request: Unsent,
    transfer: Transferable[],
    progress?: (loaded: number, total: number) => void,
  ): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...(progress ? { progress } : {}) });
      this.worker.postMessage({ ...request, id }, transfer);
    });
  }

  close(): void {
    this.worker.terminate();
  }
}

/** The worker's error as the error class it was (`ModelError`, `RuntimeError`), code and message kept. */
function rebuild(e: { name: string; code: string; message: string }): Error {
  if (e.name === 'ModelError') return new ModelError(e.code as ModelErrorCode, e.message);
  if (e.name === 'RuntimeError') return new RuntimeError(e.code as RuntimeErrorCode, e.message);
  return new Error(e.message);
}
