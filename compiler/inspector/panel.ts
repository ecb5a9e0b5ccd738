import type { OpData } from './data.js';
import { action, bytes, flops, h, int, shapeText } from './dom.js';
import type { GroupFacts } from './graph.js';
import { highlight } from './highlight.js';
import type { OpRef, Store } from './store.js';

/** What the node panel can be asked to do. */
export interface PanelEvents {
  selectOp(r: OpRef): void;
  showStep(step: number): void;
}

/** A row of the panel; `value` is the raw number tests and scripts compare. */
function row(field: string, label: string, content: Node | string, value?: string | number): HTMLElement {
  return h(
    'tr',
    { 'data-field': field, ...(value === undefined ? {} : { 'data-value': String(value) }) },
    h('th', {}, label),
    h('td', {}, content),
  );
}

/** `%id kind`, selecting the op of its stage when clicked. */
export function opLink(store: Store, r: OpRef, events: Pick<PanelEvents, 'selectOp'>): HTMLElement {
  const op = store.op(r);
  const kind = op?.op === 'fused' ? `fused ${String(op.attrs.kind)}` : (op?.op ?? '?');
  return action(`%${r.id} ${kind}`, () => events.selectOp(r), {
    class: 'op-link',
    'data-stage': r.stage,
    'data-op': r.id,
  });
}

/** The panel for one op of one stage. */
export function opPanel(store: Store, r: OpRef, events: PanelEvents): HTMLElement {
  const op = store.op(r)!;
  const stage = store.model.stages[r.stage]!;
  const rows: HTMLElement[] = [
    row('op', 'op', op.op === 'fused' ? `fused (${String(op.attrs.kind)})` : op.op, op.op),
    row('stage', 'stage', `${r.stage}: ${stage.pass ?? 'as built'}`, r.stage),
    row('scope', 'scope', op.scope, op.scope),
    row('shape', 'shape', shapeText(op.shape), op.shape.join(',')),
    row(
      'attrs',
      'attributes',
      op.op === 'fused' ? `kind=${String(op.attrs.kind)}` : attrsText(op),
      JSON.stringify(op.attrs),
    ),
    row(
      'operands',
      'operands',
      h(
        'span',
        {},
        ...op.operands.flatMap((x, i) => [i ? ', ' : '', opLink(store, { stage: r.stage, id: x }, events)]),
      ),
    ),
    row('keys', 'checkpoint keys', (op.keys ?? []).join('\n') || '\u2014', (op.keys ?? []).join(',')),
    row('params', 'parameters', int(op.params ?? 0), op.params ?? 0),
    row('flops', 'FLOPs / image', `${int(op.flops)} (${flops(op.flops)})`, op.flops),
    row('bytes', 'result bytes / image', bytes(op.bytes), op.bytes),
  ];
  if (op.degree) {
    rows.push(
      row('degree', 'degree', h('span', { class: 'digits' }, op.degree.degree), op.degree.degree),
      row(
        'log2',
        'log2 degree',
        op.degree.log2 === null ? '-\u221e' : op.degree.log2.toFixed(2),
        op.degree.log2 ?? '',
      ),
      row(
        'depth',
        'multiplicative depth',
        `${op.degree.depthAsWritten} as written, ${op.degree.depthBalanced} balanced`,
        `${op.degree.depthAsWritten},${op.degree.depthBalanced}`,
      ),
      row('segment', 'segment', String(op.degree.segment), op.degree.segment),
    );
  } else {
    rows.push(row('degree', 'degree', 'load-time value (computed from weights and constants)', ''));
  }
  rows.push(
    row(
      'live',
      'live (op indices)',
      op.live ? `${op.live[0]} \u2192 ${op.live[1] ?? 'end (output)'}` : 'weights buffer (load time)',
      op.live ? op.live.join(',') : '',
    ),
  );
  rows.push(kernelRow(store, r, events));
  const body = op.body
    ? h(
        'details',
        { open: true },
        h('summary', {}, `region: ${op.body.length} ops`),
        h(
          'ul',
          { class: 'region' },
          ...op.body.map((o) => h('li', {}, `%${o.id} ${o.op} ${shapeText(o.shape)} ${o.scope}`)),
        ),
      )
    : null;
  return h(
    'div',
    { class: 'panel-op', 'data-stage': r.stage, 'data-op': r.id },
    h('h3', {}, `%${op.id} ${op.op === 'fused' ? `fused ${String(op.attrs.kind)}` : op.op}`),
    h('table', {}, ...rows),
    body,
    excerpt(store, op),
  );
}

/** The kernel the op ended in: its own in the last stage, else where the passes took it. */
function kernelRow(store: Store, r: OpRef, events: PanelEvents): HTMLElement {
  const op = store.op(r)!;
  if (!op.live) return row('kernel', 'kernel', 'load time (weights buffer)', '');
  const end = store.fate(r);
  if ('removedBy' in end) return row('kernel', 'kernel', `none: removed by ${end.removedBy}`, '');
  const steps = store.stepsOf(end.ref.id);
  const moved = store.home(r.stage) !== store.home(store.last);
  const links = steps.flatMap((i, k) => {
    const step = store.model.plan.steps[i]!;
    return [
      k ? ', ' : '',
      action(`#${i} ${store.model.plan.kernels[step.kernel]!.name}`, () => events.showStep(i)),
    ];
  });
  return row(
    'kernel',
    'kernel',
    h(
      'span',
      {},
      ...(moved
        ? ['as ', opLink(store, end.ref, events), end.via.length ? ` (${end.via.join(', ')})` : '', ': ']
        : []),
      ...(links.length ? links : ['no dispatch (a view or the input)']),
    ),
    steps.join(','),
  );
}

/** The panel for a scope group: sums of costs, maxima of degree facts. */
export function groupPanel(stage: number, g: GroupFacts, expanded: boolean, toggle: () => void): HTMLElement {
  const data = g.ops.filter((o) => o.live);
  const params = g.ops.reduce((s, o) => s + (o.op === 'param' ? (o.params ?? 0) : 0), 0);
  const fl = g.ops.reduce((s, o) => s + o.flops, 0);
  const by = data.reduce((s, o) => s + o.bytes, 0);
  const deg = g.ops.reduce<OpData | null>((best, o) => {
    if (!o.degree || o.degree.log2 === null) return best;
    return !best || BigInt(o.degree.degree) > BigInt(best.degree!.degree) ? o : best;
  }, null);
  const depth = (k: 'depthAsWritten' | 'depthBalanced') =>
    Math.max(0, ...g.ops.map((o) => o.degree?.[k] ?? 0));
  return h(
    'div',
    { class: 'panel-group', 'data-group': g.id, 'data-stage': stage },
    h('h3', {}, g.id),
    h('button', { onclick: toggle }, expanded ? 'collapse' : 'expand'),
    h(
      'table',
      {},
      row('ops', 'ops', int(g.ops.length), g.ops.length),
      row('params', 'parameters', int(params), params),
      row('flops', 'FLOPs / image', `${int(fl)} (${flops(fl)})`, fl),
      row('bytes', 'data-path bytes / image', bytes(by), by),
      row(
        'degree',
        'max degree',
        deg ? h('span', { class: 'digits' }, deg.degree!.degree) : '\u2014',
        deg?.degree?.degree ?? '',
      ),
      row(
        'depth',
        'max multiplicative depth',
        `${depth('depthAsWritten')} as written, ${depth('depthBalanced')} balanced`,
      ),
    ),
  );
}

/** The ops a source line selected, by stage, each a link. */
export function selectionPanel(
  store: Store,
  file: number,
  line: number,
  refs: readonly OpRef[],
  events: PanelEvents,
): HTMLElement {
  const byStage = new Map<number, OpRef[]>();
  for (const r of refs) byStage.set(r.stage, [...(byStage.get(r.stage) ?? []), r]);
  return h(
    'div',
    { class: 'panel-line', 'data-count': refs.length },
    h('h3', {}, `${store.fileName(file)}:${line}`),
    h('p', {}, `${refs.length} op(s) from this line over ${byStage.size} stage(s)`),
    ...[...byStage].map(([stage, list], n) =>
      h(
        'details',
        { class: 'line-stage', open: n === 0 || n === byStage.size - 1 },
        h(
          'summary',
          {},
          `stage ${stage} (${store.model.stages[stage]!.pass ?? 'as built'}): ${list.length} op(s)`,
        ),
        ...list.flatMap((r, i) => [i ? ', ' : '', opLink(store, r, events)]),
      ),
    ),
  );
}

function attrsText(op: OpData): string {
  const entries = Object.entries(op.attrs);
  return entries.length ? entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ') : '\u2014';
}

/** The .poly lines around the op's span. */
function excerpt(store: Store, op: OpData): HTMLElement | null {
  if (!op.loc) return h('p', { class: 'muted' }, 'no source location (created by a pass)');
  const [file, line, col, len] = op.loc;
  const lines = (store.data.sources[file]?.text ?? '').split('\n');
  const from = Math.max(1, line - 2);
  const to = Math.min(lines.length, line + 2);
  const out: string[] = [];
  for (let n = from; n <= to; n++) {
    const text = lines[n - 1] ?? '';
    const html =
      n === line
        ? `${highlight(text.slice(0, col - 1), 'poly')}<mark>${highlight(text.slice(col - 1, col - 1 + len), 'poly')}</mark>${highlight(text.slice(col - 1 + len), 'poly')}`
        : highlight(text, 'poly');
    out.push(`<span class="ln">${n}</span>${html}`);
  }
  const pre = h('pre', { class: 'excerpt' });
  pre.innerHTML = out.join('\n');
  return h('div', {}, h('div', { class: 'muted' }, `${store.fileName(file)}:${line}:${col}`), pre);
}
