import { action, bytes, flops, h, int, s } from './dom.js';
import { highlight } from './highlight.js';
import type { OpRef, Store } from './store.js';

/**
 * The kernels view: the WebGPU plan's dispatches in order, each with its kernel, member ops,
 * sizes and costs; the selected one's WGSL highlighted; and the memory plan as a chart of arena
 * offset against step, one bar per value.
 */
export class KernelsView {
  readonly element: HTMLElement;
  private readonly detail: HTMLElement;
  private readonly rows: HTMLElement[] = [];

  constructor(
    private readonly store: Store,
    private readonly events: { selectOp(r: OpRef): void },
  ) {
    const plan = store.model.plan;
    const last = store.last;
    const opName = (id: number) => {
      const op = store.op({ stage: last, id });
      return op?.op === 'fused' ? `fused ${String(op.attrs.kind)}` : (op?.op ?? '?');
    };
    const tbody = h('tbody');
    plan.steps.forEach((step, i) => {
      if (step.invocations === 0) return;
      const k = plan.kernels[step.kernel]!;
      const tr = h(
        'tr',
        { class: 'dispatch', 'data-step': i, onclick: () => this.show(i) },
        h('td', {}, String(i)),
        h('td', { class: 'kname' }, k.name),
        h('td', {}, step.members.map((m) => `%${m} ${opName(m)}`).join(', ')),
        h('td', { class: 'num' }, String(k.workgroupSize)),
        h('td', { class: 'num' }, int(step.workgroups)),
        h('td', { class: 'num' }, int(step.invocations)),
        h('td', { class: 'num' }, flops(step.flops)),
        h('td', { class: 'num' }, bytes(step.bytes)),
      );
      this.rows[i] = tr;
      tbody.append(tr);
    });
    const table = h(
      'table',
      { class: 'dispatches' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['step', 'kernel', 'member ops', 'workgroup', 'workgroups', 'invocations', 'FLOPs', 'bytes'].map(
            (t) => h('th', {}, t),
          ),
        ),
      ),
      tbody,
    );
    this.detail = h(
      'div',
      { class: 'kernel-detail' },
      h('p', { class: 'muted' }, 'click a dispatch for its WGSL'),
    );
    this.element = h(
      'section',
      { class: 'kernels' },
      h(
        'p',
        {},
        `${store.model.summary.dispatches} dispatches of ${plan.kernels.length} kernels at batch 1; arena ${bytes(plan.arenaBytes)}`,
      ),
      h('div', { class: 'kernels-split' }, h('div', { class: 'table-wrap' }, table), this.detail),
      h('h3', {}, 'memory plan: arena offset against step (one bar per value; click a bar for its op)'),
      this.memoryChart(),
    );
  }

  /** Shows step `i`'s kernel and scrolls its row into view. */
  show(i: number): void {
    const plan = this.store.model.plan;
    const step = plan.steps[i]!;
    const k = plan.kernels[step.kernel]!;
    for (const r of this.rows) r?.classList.remove('active');
    this.rows[i]?.classList.add('active');
    this.rows[i]?.scrollIntoView({ block: 'nearest' });
    const code = h('code', { class: 'language-wgsl' });
    code.innerHTML = highlight(k.wgsl, 'wgsl');
    this.detail.replaceChildren(
      h('h3', {}, `step ${i}: ${k.name}`),
      h('p', {}, step.label),
      h(
        'p',
        {},
        'members: ',
        ...step.members.flatMap((m, n) => [
          n ? ', ' : '',
          action(`%${m}`, () => this.events.selectOp({ stage: this.store.last, id: m })),
        ]),
        ` \u2014 workgroup ${k.workgroupSize}, ${int(step.workgroups)} workgroups, ${int(step.invocations)} invocations`,
      ),
      h('pre', { class: 'wgsl' }, code),
    );
  }

  private memoryChart(): SVGSVGElement {
    const plan = this.store.model.plan;
    const steps = Math.max(1, plan.steps.length);
    const W = 1000;
    const H = 260;
    const top = Math.max(1, plan.arenaBytes);
    const svg = s('svg', {
      class: 'memory',
      viewBox: `0 0 ${W + 60} ${H + 30}`,
      preserveAspectRatio: 'none',
    });
    const x = (step: number) => 50 + (W * (step + 1)) / (steps + 1);
    const y = (b: number) => H - (H * b) / top;
    svg.append(
      s('line', { x1: 50, y1: H, x2: W + 50, y2: H, class: 'axis' }),
      s('line', { x1: 50, y1: 0, x2: 50, y2: H, class: 'axis' }),
      s('text', { x: 0, y: 10, class: 'axis-label' }, bytes(top)),
      s('text', { x: 0, y: H, class: 'axis-label' }, '0'),
      s('text', { x: W / 2, y: H + 24, class: 'axis-label' }, `step (0 \u2026 ${steps - 1})`),
    );
    for (const v of plan.arena) {
      const x0 = x(v.first);
      const x1 = x((v.last ?? steps - 1) + 1);
      const rect = s('rect', {
        x: x0,
        y: y(v.offset + v.bytes),
        width: Math.max(1, x1 - x0),
        height: Math.max(0.5, y(v.offset) - y(v.offset + v.bytes)),
        class: 'bar',
        'data-op': v.id,
        fill: `hsl(${(v.id * 47) % 360} 60% 62%)`,
      });
      rect.append(
        s(
          'title',
          {},
          `%${v.id}: ${bytes(v.bytes)} at ${bytes(v.offset)}, steps ${v.first}\u2013${v.last ?? 'end'}`,
        ),
      );
      rect.addEventListener('click', () => this.events.selectOp({ stage: this.store.last, id: v.id }));
      svg.append(rect);
    }
    return svg;
  }
}
