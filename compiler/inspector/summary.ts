import { bytes, flops, h, int, shapeText } from './dom.js';
import { opLink } from './panel.js';
import type { OpRef, Store } from './store.js';

/** The summary on load: the model's facts and its polynomial facts (degree, depth, or barriers). */
export function summaryView(store: Store, events: { selectOp(r: OpRef): void }): HTMLElement {
  const m = store.model;
  const s = m.summary;
  const item = (field: string, label: string, value: string | Node) =>
    h(
      'div',
      { class: 'fact', 'data-field': field },
      h('span', { class: 'label' }, label),
      h('span', { class: 'value' }, value),
    );
  const d = m.degree;
  const facts = [
    item(
      'settings',
      'settings',
      Object.entries(m.settings)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || '\u2014',
    ),
    item('inputs', 'input', m.inputs.map((i) => `${i.name}: ${shapeText(i.shape)}`).join(', ')),
    item('outputs', 'output', m.outputs.map((o) => shapeText(o.shape)).join(', ')),
    item(
      'params',
      'parameters',
      `${int(s.params)} (${(s.params / 1e6).toFixed(2)} M)${s.buffers ? `, ${int(s.buffers)} buffer elements` : ''}`,
    ),
    item('flops', 'FLOPs / image', `${flops(s.flops)} (${int(s.flops)})`),
    item(
      'ops',
      'ops',
      `${int(s.opsBefore)} as built \u2192 ${int(s.opsAfter)} after ${m.stages.length - 1} passes (${s.passMs.toFixed(0)} ms)`,
    ),
    item('dispatches', 'WebGPU', `${s.dispatches} dispatches, ${s.kernels} kernels`),
    item(
      'memory',
      'activations',
      `${bytes(s.activationBytes)} arena at batch 1 (lower bound ${bytes(s.activationLowerBoundBytes)}), weights ${bytes(s.weightBytes)}`,
    ),
  ];
  let poly: HTMLElement;
  if (d.polynomial) {
    const o = d.outputs[0]!;
    poly = h(
      'div',
      { class: 'poly yes', 'data-field': 'degree', 'data-degree': o.degree },
      h('b', {}, 'polynomial: yes. '),
      'degree ',
      h('span', { class: 'digits' }, o.degree),
      ` (log2 \u2248 ${o.log2 === null ? '-\u221e' : o.log2.toFixed(2)}), multiplicative depth ${o.depthAsWritten} as written, ${o.depthBalanced} balanced`,
    );
  } else {
    const top = d.segments.reduce((a, b) => (BigInt(b.degree) > BigInt(a.degree) ? b : a));
    const depthW = Math.max(...d.segments.map((x) => x.depthAsWritten));
    const depthB = Math.max(...d.segments.map((x) => x.depthBalanced));
    poly = h(
      'div',
      { class: 'poly no', 'data-field': 'degree', 'data-degree': top.degree },
      h('b', {}, 'polynomial: no. '),
      `${d.barriers.length} non-polynomial op(s) on data split the model into ${d.segments.length} segments; max degree within a segment `,
      h('span', { class: 'digits' }, top.degree),
      ` (segment ${top.index}, log2 \u2248 ${top.log2 === null ? '-\u221e' : top.log2.toFixed(2)}), max multiplicative depth ${depthW} as written, ${depthB} balanced; output degree ${d.outputs.map((o) => o.degree).join(', ')} in its segment.`,
      h(
        'details',
        { class: 'barriers' },
        h('summary', {}, `barriers (${d.barriers.length})`),
        h(
          'ol',
          {},
          ...d.barriers.map((b) =>
            h(
              'li',
              {},
              opLink(store, { stage: 0, id: b.id }, events),
              ` ${b.scope} ${b.loc ? `${store.fileName(b.loc[0])}:${b.loc[1]}` : ''}: input degree ${b.input.degree}, depth ${b.input.depthAsWritten}/${b.input.depthBalanced}`,
            ),
          ),
        ),
      ),
    );
  }
  return h(
    'header',
    { class: 'summary' },
    h(
      'h1',
      {},
      m.name,
      h('span', { class: 'muted' }, `  ${store.data.entry}, pipeline ${store.data.pipeline}`),
    ),
    h('div', { class: 'facts' }, ...facts),
    poly,
  );
}
