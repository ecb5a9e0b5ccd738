// A campaign worker's entry (a child process): registers tsx's loader so that it can import the
// TypeScript sources, then loads the worker named by the pool.
import { register } from 'tsx/esm/api';

register();
await import(process.env.POLYC_FUZZ_WORKER);
