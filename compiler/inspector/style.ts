/** The page's style sheet (one file, no external fonts or images). */
export const STYLE = `
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232a; background: #f6f7f9; }
.app { display: flex; flex-direction: column; height: 100vh; }
.summary { padding: 8px 14px; background: #fff; border-bottom: 1px solid #dde1e6; }
.summary h1 { font-size: 17px; margin: 0 0 4px; }
.facts { display: flex; flex-wrap: wrap; gap: 4px 18px; }
.fact .label { color: #68717b; margin-right: 6px; }
.poly { margin-top: 4px; }
.poly.yes b { color: #1a7f37; } .poly.no b { color: #b35900; }
.digits { font-family: ui-monospace, monospace; word-break: break-all; background: #f0f3f6; padding: 0 3px; }
.barriers ol { max-height: 160px; overflow: auto; margin: 4px 0; font-size: 12px; }
main { flex: 1; display: flex; min-height: 0; }
.left { flex: 1; display: flex; flex-direction: column; min-width: 0; }
.right { width: 40%; max-width: 620px; display: flex; flex-direction: column; border-left: 1px solid #dde1e6; background: #fff; min-height: 0; }
.tabs { display: flex; gap: 2px; padding: 4px 8px 0; background: #eceff3; }
.tabs button { border: 1px solid #d0d5db; border-bottom: none; background: #e2e6eb; padding: 4px 14px; border-radius: 5px 5px 0 0; cursor: pointer; text-transform: capitalize; }
.tabs button.active { background: #fff; font-weight: 600; }
.view { flex: 1; overflow: auto; background: #fff; min-height: 0; }
.view[hidden] { display: none; }
.graph-view { display: flex; flex-direction: column; overflow: hidden; }
.toolbar { display: flex; gap: 14px; align-items: center; padding: 6px 8px; border-bottom: 1px solid #eceff3; flex-wrap: wrap; }
.graph { flex: 1; position: relative; min-height: 0; }
.graph-svg { width: 100%; height: 100%; display: block; cursor: grab; background: #fbfcfd; }
.legend { position: absolute; right: 8px; top: 6px; background: rgba(255,255,255,.9); padding: 2px 6px; font-size: 12px; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: middle; border: 1px solid #999; }
.node { cursor: pointer; }
.node text { font: 11px ui-monospace, monospace; fill: #1d232a; pointer-events: none; }
.node text.toggle { pointer-events: all; font-size: 15px; font-weight: 700; fill: #3b6fd4; }
.node text.sub { fill: #5a636d; font-size: 10px; }
.node.op rect { fill: #fff; stroke: #8892a0; }
.node.op.fused rect { stroke: #3b6fd4; stroke-width: 1.6; }
.node.group.closed rect { fill: #eef3fb; stroke: #7b93b8; }
.node.group.open > rect { fill: rgba(120,140,170,.06); stroke: #aab6c6; stroke-dasharray: 4 3; }
.node.group.open > text.title { font-weight: 600; fill: #44546a; }
.node.selected rect { stroke: #e2461d !important; stroke-width: 3 !important; }
.node.has-selected > rect { stroke: #e2461d !important; stroke-width: 2 !important; }
.edges polyline { fill: none; stroke: #9aa4b1; stroke-width: 1; }
.edges text.edge-label { font: 9px ui-monospace, monospace; fill: #6b7480; }
marker path { fill: #9aa4b1; }
.panel { padding: 6px 12px; overflow: auto; max-height: 55%; border-bottom: 1px solid #dde1e6; }
.panel h3 { margin: 4px 0; font: 600 14px ui-monospace, monospace; }
.panel table { border-collapse: collapse; width: 100%; }
.panel th { text-align: left; color: #68717b; font-weight: normal; padding: 1px 8px 1px 0; vertical-align: top; white-space: nowrap; }
.panel td { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; word-break: break-word; }
.region { font: 11px ui-monospace, monospace; margin: 2px 0; padding-left: 18px; }
.muted { color: #7a838d; }
pre.excerpt, .source pre, pre.wgsl { font: 12px/1.45 ui-monospace, monospace; margin: 0; }
pre.excerpt { background: #f6f8fa; padding: 4px 6px; overflow: auto; }
.ln { display: inline-block; width: 3.2em; color: #a0a8b2; text-align: right; padding-right: 8px; user-select: none; }
mark { background: #ffe58f; }
.source { flex: 1; display: flex; flex-direction: column; min-height: 0; }
.file-tabs { display: flex; flex-wrap: wrap; gap: 2px; padding: 4px; background: #f3f5f7; }
.file-tabs button { border: 1px solid #d0d5db; background: #fff; padding: 2px 8px; cursor: pointer; font-size: 12px; }
.file-tabs button.active { background: #dfe8f7; font-weight: 600; }
.source-body { flex: 1; overflow: auto; }
.line { white-space: pre; }
.line.has-ops { cursor: pointer; }
.line.has-ops:hover { background: #eef3fb; }
.line.marked { background: #fff4cc; }
.passes, .kernels { padding: 8px 12px; }
details.stage { border-bottom: 1px solid #eceff3; }
details.stage summary { display: flex; gap: 12px; padding: 3px 0; cursor: pointer; }
details.stage .idx { width: 2em; color: #7a838d; } details.stage .pass { width: 13em; font-family: ui-monospace, monospace; }
details.stage .ms { width: 6em; text-align: right; } details.stage .ops { width: 6em; text-align: right; }
details.stage .what { flex: 1; color: #44546a; }
details.stage:not(.changed) .pass { color: #8a939d; }
ul.changes { font: 11.5px ui-monospace, monospace; max-height: 360px; overflow: auto; margin: 2px 0 6px; }
.change .kind { display: inline-block; width: 5.5em; font-weight: 600; }
.change.merged .kind { color: #3b6fd4; } .change.removed .kind { color: #c0392b; } .change.added .kind { color: #1a7f37; } .change.folded .kind { color: #b35900; }
.kernels-split { display: flex; gap: 10px; align-items: flex-start; }
.table-wrap { max-height: 420px; overflow: auto; flex: 1; min-width: 0; }
table.dispatches { border-collapse: collapse; font-size: 12px; width: 100%; }
table.dispatches th { position: sticky; top: 0; background: #f3f5f7; text-align: left; padding: 2px 6px; }
table.dispatches td { padding: 1px 6px; border-bottom: 1px solid #f0f2f4; font-family: ui-monospace, monospace; }
table.dispatches td.num { text-align: right; }
table.dispatches tr { cursor: pointer; } table.dispatches tr:hover { background: #eef3fb; } table.dispatches tr.active { background: #dfe8f7; }
.kernel-detail { flex: 1; min-width: 0; max-height: 420px; overflow: auto; }
pre.wgsl { background: #f6f8fa; padding: 6px; }
svg.memory { width: 100%; height: 280px; background: #fbfcfd; border: 1px solid #eceff3; }
svg.memory .bar { stroke: #fff; stroke-width: .3; cursor: pointer; } svg.memory .bar:hover { stroke: #000; }
svg.memory .axis { stroke: #888; } svg.memory .axis-label { font-size: 11px; fill: #555; }
.diagnostics { background: #fff0f0; border-bottom: 2px solid #c0392b; padding: 8px 14px; }
.diagnostics pre { white-space: pre-wrap; font: 12px ui-monospace, monospace; }
.token.comment { color: #6a737d; font-style: italic; } .token.keyword { color: #cf222e; } .token.string { color: #0a3069; }
.token.number { color: #0550ae; } .token.function { color: #8250df; } .token.class-name, .token.builtin { color: #953800; }
.token.operator, .token.punctuation { color: #57606a; } .token.attribute, .token.property { color: #116329; }
`;
