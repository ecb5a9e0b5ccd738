// The demo page: a user drops or picks an image; the compiled package's `classify` reads it at its
// natural size, preprocesses it as the reference evaluation does and runs the model; the page shows
// the top-5 labels with their probabilities, the backend and the time.
import { type ImageSource, MODEL_NAME, Model, type Prediction, WEIGHTS } from 'demo-model';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>('status');
const error = $<HTMLParagraphElement>('error');
const preview = $<HTMLImageElement>('preview');
const table = $<HTMLTableElement>('results');
const info = $<HTMLParagraphElement>('info');
const drop = $<HTMLDivElement>('drop');
const input = $<HTMLInputElement>('file');

$('model-name').textContent = MODEL_NAME;
if (WEIGHTS.synthetic) {
  $('weights-note').textContent =
    'This package was compiled without --weights: deterministic random weights, so its predictions are meaningless.';
}

const model = Model.create({
  onProgress: (loaded, total) => {
    status.textContent = `Loading the weights: ${Math.round((100 * loaded) / total)}%`;
  },
});
model.then(
  (m) => {
    status.textContent = `${MODEL_NAME} is ready on ${m.backend === 'webgpu' ? 'WebGPU' : 'the CPU'}.`;
    status.dataset.ready = 'true';
  },
  (e: unknown) => fail(e),
);

function fail(e: unknown): void {
  const { code, message } = e as { code?: string; message?: string };
  error.textContent = code ? `${code}: ${message}` : String(message ?? e);
}

function row(p: Prediction, rank: number): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.index = String(p.index);
  tr.dataset.prob = String(p.prob);
  const cells = [String(rank + 1), p.label ?? `class ${p.index}`, `${(100 * p.prob).toFixed(2)} %`];
  for (const [i, text] of cells.entries()) {
    const td = document.createElement('td');
    td.textContent = text;
    if (i === 1) td.className = 'label';
    tr.append(td);
  }
  const bar = document.createElement('div');
  bar.className = 'bar';
  bar.style.width = `${(100 * p.prob).toFixed(1)}%`;
  const td = document.createElement('td');
  td.className = 'prob';
  td.append(bar);
  tr.append(td);
  return tr;
}

/** Classifies `source` (a File or a URL) and shows the result; `shown` is what the preview displays. */
async function classify(source: ImageSource, shown: string): Promise<void> {
  error.textContent = '';
  // The previous preview's object URL (for a File) is no longer needed.
  if (preview.src.startsWith('blob:')) URL.revokeObjectURL(preview.src);
  preview.src = shown;
  try {
    const m = await model;
    status.textContent = 'Classifying…';
    const start = performance.now();
    const top = await m.classify(source, 5);
    const ms = performance.now() - start;
    table.tBodies[0]!.replaceChildren(...top.map(row));
    table.hidden = false;
    // adapterInfo names the adapter, or the CPU kernels and threads ('CPU (WebAssembly SIMD kernels, 1 thread)').
    const backend = m.backend === 'webgpu' ? `WebGPU (${m.adapterInfo})` : m.adapterInfo;
    info.replaceChildren();
    const line = (label: string, value: string, key: string) => {
      const span = document.createElement('span');
      span.dataset.key = key;
      span.textContent = value;
      info.append(`${label}: `, span, document.createElement('br'));
    };
    line('Backend', backend, 'backend');
    if (m.fallbackReason) line('Why not WebGPU', m.fallbackReason, 'fallback');
    line('Time', `${ms.toFixed(1)} ms (decode, preprocess, inference, top-5)`, 'time');
    status.textContent = 'Done.';
  } catch (e) {
    fail(e);
    status.textContent = '';
  }
}

function classifyFile(file: File | undefined): void {
  if (file) void classify(file, URL.createObjectURL(file));
}

input.addEventListener('change', () => classifyFile(input.files?.[0]));
drop.addEventListener('click', (e) => {
  if (e.target === drop) input.click();
});
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  classifyFile(e.dataTransfer?.files[0]);
});
$('example').addEventListener('click', () => {
  // A URL source: the package fetches and decodes it (Vite copies the file into the build).
  const url = new URL('../images/scene.png', import.meta.url).href;
  void classify(url, url);
});
