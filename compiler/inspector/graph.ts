import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { OpData } from './data.js';
import { flops, h, int, s } from './dom.js';
import { elk } from './elk.js';
import type { ScopeLevel } from './scope.js';
import { type OpRef, refKey, type Store } from './store.js';

/**
 * The graph view: one stage's ops grouped by scope (scope.ts), collapsed groups drawn as one box,
 * laid out by ELK's layered algorithm with compound nodes, drawn as SVG. Load-time values are
 * hidden unless asked for; edges carry the shape of the value they stand for.
 */

export type Overlay =
  | 'none'
  | 'degree'
  | 'depthAsWritten'
  | 'depthBalanced'
  | 'flops'
  | 'params'
  | 'bytes'
  | 'kernel';

export const OVERLAYS: readonly [Overlay, string][] = [
  ['none', 'none'],
  ['degree', 'degree (log2)'],
  ['depthAsWritten', 'multiplicative depth (as written)'],
  ['depthBalanced', 'multiplicative depth (balanced)'],
  ['flops', 'FLOPs'],
  ['params', 'parameters'],
  ['bytes', 'bytes (result)'],
  ['kernel', 'kernel'],
];

export interface GraphState {
  readonly stage: number;
  readonly expanded: ReadonlySet<string>;
  /** refKeys of the selected ops. */
  readonly selected: ReadonlySet<string>;
  readonly overlay: Overlay;
  readonly showLoadTime: boolean;
  /** A node to bring into view: `o:<id>` or `g:<group>`. */
  readonly focus: string | null;
}

export interface GraphEvents {
  selectOp(r: OpRef): void;
  selectGroup(stage: number, group: string): void;
  toggle(group: string): void;
}

/** What a group aggregates, over all its ops (load-time ones included). */
export interface GroupFacts {
  readonly id: string;
  readonly label: string;
  readonly ops: OpData[];
}

/** Width of a character of the 11px monospace labels: ELK needs node sizes before drawing. */
const CHAR = 6.6;

export class GraphView {
  readonly element: HTMLElement;
  private readonly svg: SVGSVGElement;
  private readonly viewport: SVGGElement;
  private readonly legend: HTMLElement;
  private scale = 1;
  private tx = 0;
  private ty = 0;
  private sequence = 0;
  private lastKey = '';
  /** The scope groups of the stage drawn last, by id (the panel reads their facts). */
  groups = new Map<string, GroupFacts>();

  constructor(
    private readonly store: Store,
    private readonly events: GraphEvents,
  ) {
    this.svg = s('svg', { class: 'graph-svg' });
    this.viewport = s('g');
    this.svg.append(this.viewport);
    this.legend = h('div', { class: 'legend' });
    this.element = h('div', { class: 'graph' }, this.legend, this.svg);
    this.panZoom();
  }

  /** Lays out and draws; resolves when the drawing is on screen (a newer call wins). */
  async render(st: GraphState): Promise<void> {
    const seq = ++this.sequence;
    const { graph, nodes, values } = this.build(st);
    const laid = await elk.layout(graph);
    if (seq !== this.sequence) return;
    this.draw(laid, nodes, values, st);
    const key = `${st.stage}|${[...st.expanded].sort().join(',')}|${st.showLoadTime}`;
    if (key !== this.lastKey) this.fit(laid);
    this.lastKey = key;
    if (st.focus) this.reveal(st.focus);
    this.element.dataset.ready = String(seq);
  }

  private build(st: GraphState) {
    const store = this.store;
    const ops = store.ops(st.stage);
    const visible = (o: OpData) => st.showLoadTime || o.live !== undefined;
    this.groups = new Map();
    for (const op of ops) {
      for (const level of store.levels(op.scope)) {
        let g = this.groups.get(level.id);
        if (!g) {
          g = { id: level.id, label: level.label, ops: [] };
          this.groups.set(level.id, g);
        }
        g.ops.push(op);
      }
    }
    const rep = (op: OpData): string => {
      for (const l of store.levels(op.scope)) if (!st.expanded.has(l.id)) return `g:${l.id}`;
      return `o:${op.id}`;
    };
    const root: ElkNode = {
      id: 'root',
      layoutOptions: {
        'elk.algorithm': 'layered',
        'elk.direction': 'DOWN',
        'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
        'elk.json.shapeCoords': 'ROOT',
        'elk.json.edgeCoords': 'ROOT',
        'elk.spacing.nodeNode': '18',
        'elk.layered.spacing.nodeNodeBetweenLayers': '28',
        'elk.spacing.edgeLabel': '2',
        'elk.edgeLabels.placement': 'CENTER',
      },
      children: [],
      edges: [],
    };
    /** Drawn nodes by ELK id: what each stands for. */
    const nodes = new Map<
      string,
      { kind: 'op'; op: OpData } | { kind: 'group'; group: GroupFacts; open: boolean }
    >();
    const elkNodes = new Map<string, ElkNode>([['root', root]]);
    const container = (levels: readonly ScopeLevel[], depth: number): ElkNode => {
      let parent = root;
      for (let k = 0; k < depth; k++) {
        const id = `g:${levels[k]!.id}`;
        let node = elkNodes.get(id);
        if (!node) {
          const group = this.groups.get(levels[k]!.id)!;
          const text = `${group.label}  (${group.ops.length} ops)`;
          node = {
            id,
            labels: [{ text, width: text.length * CHAR + 24, height: 16 }],
            layoutOptions: {
              'elk.padding': '[top=30,left=10,bottom=10,right=10]',
              'elk.nodeLabels.placement': 'INSIDE V_TOP H_LEFT',
            },
            children: [],
          };
          elkNodes.set(id, node);
          nodes.set(id, { kind: 'group', group, open: true });
          parent.children!.push(node);
        }
        parent = node;
      }
      return parent;
    };
    const values = new Map<string, number>();
    for (const op of ops) {
      if (!visible(op)) continue;
      const r = rep(op);
      if (elkNodes.has(r)) continue;
      const levels = store.levels(op.scope);
      if (r.startsWith('o:')) {
        const [a, b] = opLabel(op);
        container(levels, levels.length).children!.push({
          id: r,
          width: Math.max(a.length, b.length) * CHAR + 18,
          height: 36,
        });
        elkNodes.set(r, { id: r });
        nodes.set(r, { kind: 'op', op });
      } else {
        const depth = levels.findIndex((l) => `g:${l.id}` === r);
        const group = this.groups.get(levels[depth]!.id)!;
        const [a, b] = groupLabel(group);
        const node: ElkNode = { id: r, width: Math.max(a.length, b.length) * CHAR + 30, height: 40 };
        container(levels, depth).children!.push(node);
        elkNodes.set(r, node);
        nodes.set(r, { kind: 'group', group, open: false });
      }
    }
    // Edges between drawn nodes, one per pair, labelled with the first value's shape.
    const byId = store.byId(st.stage);
    const edges = new Map<string, { from: string; to: string; shape: string; count: number }>();
    for (const op of ops) {
      if (!visible(op)) continue;
      const to = rep(op);
      for (const x of new Set(op.operands)) {
        const src = byId.get(x);
        if (!src || !visible(src)) continue;
        const from = rep(src);
        if (from === to) continue;
        const key = `${from}>${to}`;
        const e = edges.get(key);
        if (e) e.count++;
        else edges.set(key, { from, to, shape: src.shape.join('×'), count: 1 });
      }
    }
    let n = 0;
    for (const e of edges.values()) {
      const text = e.count > 1 ? `${e.shape} +${e.count - 1}` : e.shape;
      const edge: ElkExtendedEdge = {
        id: `e${n++}`,
        sources: [e.from],
        targets: [e.to],
        labels: [{ text, width: text.length * 5.6 + 4, height: 11 }],
      };
      root.edges!.push(edge);
    }
    for (const [id, node] of nodes) {
      const v = overlayValue(st.overlay, node.kind === 'op' ? [node.op] : node.group.ops, store, st.stage);
      if (v !== null) values.set(id, v);
    }
    return { graph: root, nodes, values };
  }

  private draw(
    laid: ElkNode,
    nodes: Map<string, { kind: 'op'; op: OpData } | { kind: 'group'; group: GroupFacts; open: boolean }>,
    values: Map<string, number>,
    st: GraphState,
  ): void {
    const home = this.store.home(st.stage);
    const colour = colourScale(st.overlay, [...values.values()]);
    this.legend.replaceChildren(...legendItems(st.overlay, [...values.values()], colour));
    const groupsLayer = s('g');
    const edgesLayer = s('g', { class: 'edges' });
    const nodesLayer = s('g');
    const selectedIn = (g: GroupFacts) =>
      g.ops.filter((o) => st.selected.has(refKey({ stage: home, id: o.id }))).length;
    const visit = (node: ElkNode) => {
      for (const child of node.children ?? []) {
        const info = nodes.get(child.id)!;
        const x = child.x ?? 0;
        const y = child.y ?? 0;
        const w = child.width ?? 0;
        const hgt = child.height ?? 0;
        const v = values.get(child.id);
        const fill = v === undefined ? null : colour(v);
        if (info.kind === 'group' && info.open) {
          const sel = selectedIn(info.group);
          const g = s('g', { class: `node group open${sel ? ' has-selected' : ''}`, 'data-node': child.id });
          g.append(
            s('rect', { x, y, width: w, height: hgt, rx: 6 }),
            s(
              'text',
              { x: x + 8, y: y + 18, class: 'title' },
              `${info.group.label}  (${info.group.ops.length} ops)`,
            ),
            s('text', { x: x + w - 16, y: y + 18, class: 'toggle', 'data-toggle': info.group.id }, '\u2212'),
          );
          groupsLayer.append(g);
          visit(child);
        } else if (info.kind === 'group') {
          const sel = selectedIn(info.group);
          const [a, b] = groupLabel(info.group);
          const g = s('g', {
            class: `node group closed${sel ? ' has-selected' : ''}`,
            'data-node': child.id,
          });
          const rect = s('rect', { x, y, width: w, height: hgt, rx: 6 });
          if (fill) rect.setAttribute('style', `fill:${fill}`);
          g.append(
            rect,
            s('text', { x: x + 8, y: y + 16, class: 'title' }, a),
            s('text', { x: x + 8, y: y + 31, class: 'sub' }, sel ? `${b} \u2022 ${sel} selected` : b),
            s('text', { x: x + w - 16, y: y + 16, class: 'toggle', 'data-toggle': info.group.id }, '+'),
          );
          nodesLayer.append(g);
        } else {
          const [a, b] = opLabel(info.op);
          const sel = st.selected.has(refKey({ stage: home, id: info.op.id }));
          const g = s('g', {
            class: `node op${sel ? ' selected' : ''}${info.op.op === 'fused' ? ' fused' : ''}`,
            'data-node': child.id,
            'data-op': info.op.id,
          });
          const rect = s('rect', { x, y, width: w, height: hgt, rx: 3 });
          if (fill) rect.setAttribute('style', `fill:${fill}`);
          g.append(
            rect,
            s('text', { x: x + 8, y: y + 15, class: 'title' }, a),
            s('text', { x: x + 8, y: y + 29, class: 'sub' }, b),
          );
          nodesLayer.append(g);
        }
      }
    };
    visit(laid);
    for (const e of laid.edges ?? []) {
      for (const sec of (e as ElkExtendedEdge).sections ?? []) {
        const pts = [sec.startPoint, ...(sec.bendPoints ?? []), sec.endPoint];
        edgesLayer.append(
          s('polyline', { points: pts.map((p) => `${p.x},${p.y}`).join(' '), 'marker-end': 'url(#arrow)' }),
        );
      }
      for (const l of e.labels ?? []) {
        edgesLayer.append(s('text', { x: l.x ?? 0, y: (l.y ?? 0) + 9, class: 'edge-label' }, l.text ?? ''));
      }
    }
    const defs = s(
      'defs',
      {},
      s(
        'marker',
        {
          id: 'arrow',
          viewBox: '0 0 10 10',
          refX: 10,
          refY: 5,
          markerWidth: 6,
          markerHeight: 6,
          orient: 'auto-start-reverse',
        },
        s('path', { d: 'M 0 0 L 10 5 L 0 10 z' }),
      ),
    );
    this.viewport.replaceChildren(defs, groupsLayer, edgesLayer, nodesLayer);
    this.viewport.onclick = (ev) => {
      const t = ev.target as Element;
      const toggle = t.closest('[data-toggle]');
      if (toggle) return this.events.toggle(toggle.getAttribute('data-toggle')!);
      const node = t.closest('[data-node]');
      if (!node) return;
      const id = node.getAttribute('data-node')!;
      if (id.startsWith('o:')) this.events.selectOp({ stage: st.stage, id: Number(id.slice(2)) });
      else this.events.selectGroup(st.stage, id.slice(2));
    };
    this.viewport.ondblclick = (ev) => {
      const node = (ev.target as Element).closest('[data-node^="g:"]');
      if (node) this.events.toggle(node.getAttribute('data-node')!.slice(2));
    };
  }

  private apply(): void {
    this.viewport.setAttribute('transform', `translate(${this.tx},${this.ty}) scale(${this.scale})`);
  }

  private fit(laid: ElkNode): void {
    const w = this.svg.clientWidth || 800;
    const hgt = this.svg.clientHeight || 600;
    // Whole graph in view, unless that makes labels unreadable: then the top, full width.
    this.scale = Math.max(0.3, Math.min(1, w / ((laid.width ?? 1) + 20), hgt / ((laid.height ?? 1) + 20)));
    this.tx = Math.max(10, (w - (laid.width ?? 0) * this.scale) / 2);
    this.ty = 10;
    this.apply();
  }

  /** Centres a drawn node. */
  private reveal(id: string): void {
    const el = this.viewport.querySelector(`[data-node="${CSS.escape(id)}"] rect`) as SVGRectElement | null;
    if (!el) return;
    const x = Number(el.getAttribute('x')) + Number(el.getAttribute('width')) / 2;
    const y = Number(el.getAttribute('y')) + Number(el.getAttribute('height')) / 2;
    this.scale = Math.max(this.scale, 0.6);
    this.tx = (this.svg.clientWidth || 800) / 2 - x * this.scale;
    this.ty = (this.svg.clientHeight || 600) / 2 - y * this.scale;
    this.apply();
  }

  private panZoom(): void {
    let drag: { x: number; y: number } | null = null;
    this.svg.addEventListener('wheel', (e) => {
      e.preventDefault();
      const r = this.svg.getBoundingClientRect();
      const px = e.clientX - r.left;
      const py = e.clientY - r.top;
      const k = Math.exp(-e.deltaY * 0.0015);
      const next = Math.min(4, Math.max(0.05, this.scale * k));
      this.tx = px - ((px - this.tx) * next) / this.scale;
      this.ty = py - ((py - this.ty) * next) / this.scale;
      this.scale = next;
      this.apply();
    });
    this.svg.addEventListener('pointerdown', (e) => {
      if ((e.target as Element).closest('[data-node]')) return;
      drag = { x: e.clientX - this.tx, y: e.clientY - this.ty };
    });
    window.addEventListener('pointermove', (e) => {
      if (!drag) return;
      this.tx = e.clientX - drag.x;
      this.ty = e.clientY - drag.y;
      this.apply();
    });
    window.addEventListener('pointerup', () => {
      drag = null;
    });
  }
}

function opLabel(op: OpData): [string, string] {
  const kind = op.op === 'fused' ? `fused ${String(op.attrs.kind)}` : op.op;
  return [`%${op.id} ${kind}`, op.shape.join('×')];
}

function groupLabel(g: GroupFacts): [string, string] {
  const f = g.ops.reduce((sum, o) => sum + o.flops, 0);
  return [g.label, `${g.ops.length} ops \u2022 ${flops(f)}FLOP`];
}

/** The overlay's value for ops drawn as one node: sums of costs, maxima of degree facts. */
export function overlayValue(
  overlay: Overlay,
  ops: readonly OpData[],
  store: Store,
  stage: number,
): number | null {
  switch (overlay) {
    case 'none':
      return null;
    case 'degree': {
      const logs = ops.flatMap((o) => (o.degree?.log2 == null ? [] : [o.degree.log2]));
      return logs.length ? Math.max(...logs) : null;
    }
    case 'depthAsWritten':
    case 'depthBalanced': {
      const d = ops.flatMap((o) => (o.degree ? [o.degree[overlay]] : []));
      return d.length ? Math.max(...d) : null;
    }
    case 'flops':
      return ops.reduce((s2, o) => s2 + o.flops, 0);
    case 'params':
      return ops.reduce((s2, o) => s2 + (o.op === 'param' || ops.length === 1 ? (o.params ?? 0) : 0), 0);
    case 'bytes':
      return ops.reduce((s2, o) => s2 + (o.live ? o.bytes : 0), 0);
    case 'kernel': {
      if (store.home(stage) !== store.home(store.last)) return null;
      const kernels = new Set(
        ops.flatMap((o) => store.stepsOf(o.id).map((i) => store.model.plan.steps[i]!.kernel)),
      );
      return kernels.size === 1 ? [...kernels][0]! : null;
    }
  }
}

const LOG_SCALED: ReadonlySet<Overlay> = new Set(['flops', 'params', 'bytes']);

function colourScale(overlay: Overlay, values: readonly number[]): (v: number) => string {
  if (overlay === 'kernel') return (v) => `hsl(${(v * 137.508) % 360} 65% 78%)`;
  const { lo, hi } = range(overlay, values);
  const f = (v: number) => (LOG_SCALED.has(overlay) ? Math.log10(v) : v);
  // On a log scale zero (no FLOPs, no parameters) is the lightest colour, below the range.
  return (v) =>
    LOG_SCALED.has(overlay) && v <= 0 ? ramp(0) : ramp(hi > lo ? (f(v) - f(lo)) / (f(hi) - f(lo)) : 0.5);
}

/** The values the ramp spans: on a log scale, the positive ones. */
function range(overlay: Overlay, values: readonly number[]): { lo: number; hi: number } {
  const spanned = LOG_SCALED.has(overlay) ? values.filter((v) => v > 0) : values;
  return spanned.length ? { lo: Math.min(...spanned), hi: Math.max(...spanned) } : { lo: 0, hi: 0 };
}

/** ColorBrewer's YlOrBr, light end: dark labels stay readable on every colour. */
const RAMP: readonly (readonly [number, number, number])[] = [
  [255, 255, 229],
  [254, 227, 145],
  [254, 196, 79],
  [254, 153, 41],
  [236, 112, 20],
];

function ramp(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const [a, b] = [RAMP[i]!, RAMP[i + 1]!];
  const mix = (k: number) => Math.round(a[k]! + (b[k]! - a[k]!) * (x - i));
  return `rgb(${mix(0)} ${mix(1)} ${mix(2)})`;
}

function legendItems(
  overlay: Overlay,
  values: readonly number[],
  colour: (v: number) => string,
): (HTMLElement | string)[] {
  if (overlay === 'none' || values.length === 0) return [];
  if (overlay === 'kernel')
    return ['colour: the kernel that computes the node (last stage only; mixed groups stay white)'];
  const { lo, hi } = range(overlay, values);
  const fmt = (v: number) => (LOG_SCALED.has(overlay) ? int(v) : v.toFixed(overlay === 'degree' ? 1 : 0));
  return [
    h('span', { class: 'swatch', style: `background:${colour(lo)}` }),
    ` ${fmt(lo)} \u2026 `,
    h('span', { class: 'swatch', style: `background:${colour(hi)}` }),
    ` ${fmt(hi)}${LOG_SCALED.has(overlay) ? ' (log scale)' : ''}`,
  ];
}
