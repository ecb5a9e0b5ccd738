import elkWorkerSource from 'polyc:elk-worker';
import ElkApi from 'elkjs/lib/elk-api.js';

/**
 * ELK in a Web Worker made from a Blob of elkjs's worker script (the page is one file, so the
 * script travels inside it as text: compiler/src/inspect/page.ts's esbuild plugin). ELK's start-up
 * (the GWT bootstrap of 1.6 MB of code) and the first layout then run beside the main thread
 * parsing the data and building the page; on APolyNeXt-L that halves the time to interactive. A
 * browser that refuses the worker gets ELK on the main thread, as elk.bundled.js runs it.
 */

/** elk-api.js is CommonJS; TypeScript's NodeNext view of its `export default` adds a `.default`. */
const ELK = ElkApi as unknown as typeof ElkApi.default;

function workerFactory(): Worker {
  try {
    return new Worker(URL.createObjectURL(new Blob([elkWorkerSource], { type: 'text/javascript' })));
  } catch {
    // The worker script exports its in-thread stand-in when it finds a CommonJS `module`.
    const module = { exports: {} as { Worker?: new () => Worker } };
    new Function('module', 'exports', elkWorkerSource)(module, module.exports);
    return new module.exports.Worker!();
  }
}

// Only the layered algorithm: registering ELK's others costs start-up time the page does not use.
export const elk = new ELK({ workerFactory, algorithms: ['layered'] });
