import type { InspectorData, OpData } from './data.js';
import { h } from './dom.js';
import { GraphView, OVERLAYS, type Overlay } from './graph.js';
import { KernelsView } from './kernels.js';
import { groupPanel, opPanel, selectionPanel } from './panel.js';
import { passesView } from './passes.js';
import { SourceView } from './source.js';
import { inlineStages, type OpRef, refKey, type StageSource, Store } from './store.js';
import { STYLE } from './style.js';
import { summaryView } from './summary.js';

/**
 * The inspector page: reads the data the compiler embedded (or, under `polyc inspect --serve`,
 * fetches it again whenever the server has rebuilt it) and wires the views together. All state is
 * here: the stage the graph shows, the expanded groups, the selection, the overlay.
 */

type Tab = 'graph' | 'passes' | 'kernels';

class App {
  private readonly store: Store;
  private readonly graph: GraphView;
  private readonly source: SourceView;
  private readonly panel = h(
    'section',
    { class: 'panel' },
    h('p', { class: 'muted' }, 'select a node, a source line, a change or a dispatch'),
  );
  /** What the views may ask of the page. */
  private readonly events = {
    selectOp: (r: OpRef) => this.selectOp(r),
    selectGroup: (stage: number, g: string) => this.selectGroup(stage, g),
    toggle: (g: string) => this.toggle(g),
    showStage: (i: number) => this.showStage(i),
    showStep: (i: number) => this.showStep(i),
  };
  private readonly views = new Map<Tab, HTMLElement>();
  private readonly tabButtons = new Map<Tab, HTMLElement>();
  private kernels: KernelsView | undefined;
  private stage: number;
  private readonly expanded = new Set<string>();
  private selected = new Set<string>();
  private overlay: Overlay = 'none';
  private showLoadTime = false;
  private focus: string | null = null;
  private readonly stageSelect: HTMLSelectElement;
  readonly element: HTMLElement;

  constructor(data: InspectorData, stages: StageSource) {
    this.store = new Store(data, stages);
    this.stage = this.store.last;
    this.graph = new GraphView(this.store, this.events);
    this.source = new SourceView(data, (f, l) => this.selectLine(f, l), this.store);
    this.stageSelect = h(
      'select',
      { 'aria-label': 'stage', onchange: () => this.showStage(Number(this.stageSelect.value)) },
      ...this.store.model.stages.map((s, i) =>
        h(
          'option',
          { value: i, selected: i === this.stage },
          `${i}: ${s.pass ?? 'as built'} (${s.opCount} ops)`,
        ),
      ),
    );
    const overlaySelect = h(
      'select',
      {
        'aria-label': 'overlay',
        onchange: (e: Event) => {
          this.overlay = (e.target as HTMLSelectElement).value as Overlay;
          void this.renderGraph();
        },
      },
      ...OVERLAYS.map(([v, label]) => h('option', { value: v }, label)),
    );
    const loadTime = h('input', {
      type: 'checkbox',
      onchange: (e: Event) => {
        this.showLoadTime = (e.target as HTMLInputElement).checked;
        void this.renderGraph();
      },
    });
    const toolbar = h(
      'div',
      { class: 'toolbar' },
      h('label', {}, 'stage ', this.stageSelect),
      h('label', {}, 'colour by ', overlaySelect),
      h('label', {}, loadTime, ' load-time values'),
      h('button', { onclick: () => this.collapseAll() }, 'collapse all'),
    );
    this.views.set('graph', h('div', { class: 'view graph-view' }, toolbar, this.graph.element));
    this.views.set('passes', h('div', { class: 'view' }));
    this.views.set('kernels', h('div', { class: 'view' }));
    const tabs = h(
      'nav',
      { class: 'tabs' },
      ...(['graph', 'passes', 'kernels'] as const).map((t) => {
        const b = h('button', { 'data-tab': t, onclick: () => this.showTab(t) }, t);
        this.tabButtons.set(t, b);
        return b;
      }),
    );
    this.element = h(
      'div',
      { class: 'app' },
      summaryView(this.store, this.events),
      h(
        'main',
        {},
        h('div', { class: 'left' }, tabs, ...this.views.values()),
        h('div', { class: 'right' }, this.panel, this.source.element),
      ),
    );
    this.showTab('graph');
  }

  private collapseAll(): void {
    this.expanded.clear();
    void this.renderGraph();
  }

  /** Which source lines made ops (every stage is read): marks them in the source view. */
  indexLines(): void {
    this.store.opsAtLine(0, 0);
    this.source.render();
  }

  private showTab(t: Tab): void {
    // The passes and kernels views are built when first shown: a large model opens on the graph.
    const view = this.views.get(t)!;
    if (t === 'passes' && !view.firstChild) view.append(passesView(this.store, this.events));
    if (t === 'kernels' && !this.kernels) {
      this.kernels = new KernelsView(this.store, this.events);
      view.append(this.kernels.element);
    }
    for (const [k, v] of this.views) v.hidden = k !== t;
    for (const [k, b] of this.tabButtons) b.classList.toggle('active', k === t);
  }

  renderGraph(): Promise<void> {
    this.stageSelect.value = String(this.stage);
    return this.graph.render({
      stage: this.stage,
      expanded: this.expanded,
      selected: this.selected,
      overlay: this.overlay,
      showLoadTime: this.showLoadTime,
      focus: this.focus,
    });
  }

  selectOp(r: OpRef): void {
    const op = this.store.op(r);
    if (!op) return;
    const home = { stage: this.store.home(r.stage), id: r.id };
    this.stage = r.stage;
    this.selected = new Set([refKey(home)]);
    for (const l of this.store.levels(op.scope)) this.expanded.add(l.id);
    if (!op.live) this.showLoadTime = true;
    this.focus = `o:${r.id}`;
    this.panel.replaceChildren(opPanel(this.store, r, this.events));
    this.source.show(op.loc);
    this.showTab('graph');
    void this.renderGraph();
  }

  private selectGroup(stage: number, id: string): void {
    const g = this.graph.groups.get(id);
    if (!g) return;
    this.focus = `g:${id}`;
    this.panel.replaceChildren(groupPanel(stage, g, this.expanded.has(id), () => this.toggle(id)));
    const first = g.ops.find((o) => o.loc);
    if (first) this.source.show(first.loc);
  }

  private toggle(id: string): void {
    if (this.expanded.has(id)) {
      for (const g of [...this.expanded])
        if (g === id || g.startsWith(`${id}.`) || g.startsWith(`${id}:`)) this.expanded.delete(g);
    } else {
      this.expanded.add(id);
    }
    this.focus = `g:${id}`;
    const g = this.graph.groups.get(id);
    if (g && this.panel.querySelector(`[data-group="${CSS.escape(id)}"]`)) {
      this.panel.replaceChildren(groupPanel(this.stage, g, this.expanded.has(id), () => this.toggle(id)));
    }
    void this.renderGraph();
  }

  private selectLine(file: number, line: number): void {
    const refs = this.store.opsAtLine(file, line);
    this.selected = new Set(refs.map(refKey));
    this.focus = null;
    this.panel.replaceChildren(selectionPanel(this.store, file, line, refs, this.events));
    this.source.show(null, { file, line });
    void this.renderGraph();
  }

  private showStage(i: number): void {
    this.stage = i;
    this.showTab('graph');
    void this.renderGraph();
  }

  private showStep(i: number): void {
    this.showTab('kernels');
    this.kernels!.show(i);
  }
}

function diagnosticsBanner(data: InspectorData): HTMLElement | null {
  if (data.diagnostics.length === 0) return null;
  return h(
    'section',
    { class: 'diagnostics', role: 'alert' },
    h('h2', {}, `${data.diagnostics.length} error(s) in ${data.entry}`),
    ...data.diagnostics.map((d) => h('pre', { 'data-code': d.code }, d.rendered)),
  );
}

/** The stages' ops of the HTML file: one script element each, parsed on first use. */
function embeddedStages(el: HTMLElement): StageSource | null {
  const listed = el.dataset.stages;
  if (listed === undefined) return null;
  const stored = new Set(listed === '' ? [] : listed.split(',').map(Number));
  // Taken now: drawing the page replaces the body, these elements with it.
  const elements = new Map([...stored].map((i) => [i, document.getElementById(`polyc-stage-${i}`)!]));
  const parsed = new Map<number, readonly OpData[]>();
  return {
    has: (i) => stored.has(i),
    ops: (i) => {
      let ops = parsed.get(i);
      if (!ops) {
        ops = JSON.parse(elements.get(i)?.textContent ?? '[]') as OpData[];
        parsed.set(i, ops);
      }
      return ops;
    },
  };
}

const whenIdle = (run: () => void): void => {
  if ('requestIdleCallback' in window) requestIdleCallback(run);
  else setTimeout(run, 200);
};

async function show(data: InspectorData, stages: StageSource | null): Promise<void> {
  const banner = diagnosticsBanner(data);
  if (!data.model) {
    const source = new SourceView(data, () => undefined, null);
    const first = data.diagnostics.find((d) => d.loc)?.loc ?? null;
    if (first) source.show(first);
    document.body.replaceChildren(h('div', { class: 'app' }, banner, source.element));
    document.body.dataset.ready = 'diagnostics';
    return;
  }
  const app = new App(data, stages ?? inlineStages(data.model));
  document.body.replaceChildren(app.element);
  await app.renderGraph();
  // When the page became interactive, on its own clock (bench/inspector.ts reads it).
  document.body.dataset.readyMs = performance.now().toFixed(0);
  document.body.dataset.ready = 'true';
  whenIdle(() => app.indexLines());
}

function main(): void {
  document.head.append(h('style', {}, STYLE));
  const el = document.getElementById('polyc-data')!;
  let data = JSON.parse(el.textContent ?? '{}') as InspectorData;
  void show(data, embeddedStages(el));
  if (el.dataset.live !== 'true') return;
  // Served by `polyc inspect --serve`: the server counts builds; a new one brings new data.
  let build = '';
  const poll = async () => {
    try {
      const now = await (await fetch('build', { cache: 'no-store' })).text();
      if (build !== '' && now !== build) {
        data = (await (await fetch('data.json', { cache: 'no-store' })).json()) as InspectorData;
        document.body.dataset.build = now;
        await show(data, null);
      }
      build = now;
    } catch {
      // The server stopped: keep the last page.
    }
    setTimeout(poll, 500);
  };
  void poll();
}

// The script comes before the data in the file, so that ELK's worker (elk.ts) starts while the
// browser is still reading the data; the page itself waits for it.
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
else main();
