/**
 * The hierarchy the graph view and the Graphviz export group ops by, from an op's scope
 * `<module path>:<block>`: one level per module of the path (a name with its indices, so
 * `cells.0.ops.3.2` gives `cells.0`, then `ops.3.2`), then the DSL block. `cells.0:poly_conv`
 * sits in `cells.0`; `:polynext` (the model's own block) at the top.
 */
export interface ScopeLevel {
  /** Unique among all groups: the scope text up to and including this level. */
  readonly id: string;
  readonly label: string;
}

export function scopeLevels(scope: string): ScopeLevel[] {
  const colon = scope.lastIndexOf(':');
  const path = colon < 0 ? scope : scope.slice(0, colon);
  const block = colon < 0 ? '' : scope.slice(colon + 1);
  const names: string[] = [];
  for (const part of path === '' ? [] : path.split('.')) {
    if (/^\d+$/.test(part) && names.length > 0) names[names.length - 1] += `.${part}`;
    else names.push(part);
  }
  const levels: ScopeLevel[] = [];
  let id = '';
  for (const name of names) {
    id = id === '' ? name : `${id}.${name}`;
    levels.push({ id, label: name });
  }
  if (block !== '') levels.push({ id: `${id}:${block}`, label: block });
  return levels;
}
