import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { topk } from '../../runtime/src/index.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('runtime', () => {
  it('is browser-safe: no Node built-ins and no compiler imports', () => {
    for (const f of sources('runtime/src')) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toMatch(/from ['"](node:|fs|path|os|child_process|url)['"/]/);
      expect(text, f).not.toMatch(/from ['"][^'"]*compiler\//);
    }
  });

  it('topk orders by value, ties by index', () => {
    const t = { shape: [2, 4], data: Float32Array.of(0.1, 0.5, 0.5, -1, 3, 2, 1, 0) };
    expect(topk(t, 2)).toEqual([
      [
        { index: 1, value: 0.5 },
        { index: 2, value: 0.5 },
      ],
      [
        { index: 0, value: 3 },
        { index: 1, value: 2 },
      ],
    ]);
  });
});
