import type { ChangeData } from './data.js';
import { action, h } from './dom.js';
import { opLink } from './panel.js';
import type { OpRef, Store } from './store.js';

/**
 * The passes view: the pipeline's stages in order with their time, op count and what changed
 * (the diff the compiler computed between consecutive modules); every change links to its ops.
 */
export function passesView(
  store: Store,
  events: { selectOp(r: OpRef): void; showStage(stage: number): void },
): HTMLElement {
  const stages = store.model.stages;
  const total = stages.reduce((s, st) => s + st.ms, 0);
  const link = (stage: number, id: number) => opLink(store, { stage, id }, events);
  const change = (i: number, c: ChangeData) =>
    h(
      'li',
      { class: `change ${c.kind}`, 'data-kind': c.kind },
      h('span', { class: 'kind' }, c.kind),
      ' ',
      ...c.before.flatMap((id, k) => [k ? ', ' : '', link(i - 1, id)]),
      c.before.length && c.after.length ? ' \u2192 ' : '',
      ...c.after.flatMap((id, k) => [k ? ', ' : '', link(i, id)]),
      h('span', { class: 'muted' }, `  ${c.text}`),
    );
  const rows = stages.map((st, i) => {
    const counts = new Map<string, number>();
    for (const c of st.changes) counts.set(c.kind, (counts.get(c.kind) ?? 0) + 1);
    const summary = st.changed
      ? [...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'operands or order changed'
      : i === 0
        ? 'the module as built'
        : 'unchanged';
    return h(
      'details',
      { class: `stage${st.changed ? ' changed' : ''}`, 'data-pass': st.pass ?? '', 'data-stage': i },
      h(
        'summary',
        {},
        h('span', { class: 'idx' }, String(i)),
        h('span', { class: 'pass' }, st.pass ?? 'built'),
        h('span', { class: 'ms' }, `${st.ms.toFixed(2)} ms`),
        h('span', { class: 'ops' }, `${st.opCount} ops`),
        h('span', { class: 'what' }, summary),
        action('graph', () => events.showStage(i), { class: 'view' }),
      ),
      st.changes.length
        ? h('ul', { class: 'changes' }, ...st.changes.slice(0, 2000).map((c) => change(i, c)))
        : null,
    );
  });
  return h(
    'section',
    { class: 'passes' },
    h(
      'p',
      {},
      `pipeline: ${store.data.pipeline} \u2014 ${stages.length - 1} passes, ${total.toFixed(1)} ms in all`,
    ),
    ...rows,
  );
}
