// A worker thread's entry: registers tsx's loader so that the worker can import the TypeScript
// sources (workers do not inherit the parent's loader), then loads the real worker.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
