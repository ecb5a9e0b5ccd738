import type { Loc } from './data.js';
import { h } from './dom.js';
import { highlight } from './highlight.js';
import type { Store } from './store.js';

/**
 * The source view: the .poly files, highlighted, with the selected node's span marked; a click on
 * a line selects every op (of every stage) from it.
 */
export class SourceView {
  readonly element: HTMLElement;
  private readonly tabs: HTMLElement;
  private readonly body: HTMLElement;
  private file = 0;
  private marked: Loc | null = null;
  private lineMarked: { file: number; line: number } | null = null;

  constructor(
    private readonly data: { sources: readonly { file: string; text: string }[] },
    private readonly onLine: (file: number, line: number) => void,
    private readonly store: Store | null,
  ) {
    this.tabs = h('div', { class: 'file-tabs' });
    this.body = h('div', { class: 'source-body' });
    this.element = h('section', { class: 'source' }, this.tabs, this.body);
    this.render();
  }

  /** Shows `loc`'s file with its span marked and scrolled into view (null: keep the file, unmark). */
  show(loc: Loc | null, line: { file: number; line: number } | null = null): void {
    this.marked = loc;
    this.lineMarked = line;
    if (loc) this.file = loc[0];
    else if (line) this.file = line.file;
    this.render();
    const target = loc ?? (line ? [line.file, line.line] : null);
    if (target) this.body.querySelector(`[data-line="${target[1]}"]`)?.scrollIntoView({ block: 'center' });
  }

  private showFile(i: number): void {
    this.file = i;
    this.render();
  }

  /** Draws again (after the line index is built). */
  render(): void {
    this.tabs.replaceChildren(
      ...this.data.sources.map((s, i) =>
        h('button', { class: i === this.file ? 'active' : '', onclick: () => this.showFile(i) }, s.file),
      ),
    );
    const src = this.data.sources[this.file];
    if (!src) {
      this.body.replaceChildren();
      return;
    }
    const lines = src.text.split('\n');
    const rows = lines.map((text, i) => {
      const n = i + 1;
      const code = h('code');
      const m = this.marked;
      if (m && m[0] === this.file && m[1] === n) {
        const a = m[2] - 1;
        const b = a + m[3];
        code.innerHTML = `${highlight(text.slice(0, a), 'poly')}<mark>${highlight(text.slice(a, b), 'poly')}</mark>${highlight(text.slice(b), 'poly')}`;
      } else {
        code.innerHTML = highlight(text, 'poly');
      }
      // Until the index is built (when the page is idle), every line may be clicked.
      const indexed = this.store?.linesIndexed ?? false;
      const count = indexed ? this.store!.opsAtLine(this.file, n).length : 0;
      const isLine = this.lineMarked?.file === this.file && this.lineMarked.line === n;
      return h(
        'div',
        {
          class: `line${count ? ' has-ops' : ''}${isLine || (m && m[0] === this.file && m[1] === n) ? ' marked' : ''}`,
          'data-line': n,
          title: count ? `${count} op(s) from this line, over all stages: click to select them` : '',
          onclick: () => {
            if (this.store && (count > 0 || !indexed)) this.onLine(this.file, n);
          },
        },
        h('span', { class: 'ln' }, n),
        code,
      );
    });
    this.body.replaceChildren(h('pre', {}, ...rows));
  }
}
