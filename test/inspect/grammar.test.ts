import { readFileSync } from 'node:fs';
import type { TokenType } from 'chevrotain';
import { describe, expect, it } from 'vitest';
import { highlight, POLY_KEYWORDS } from '../../compiler/inspector/highlight.js';
import * as tokens from '../../grammars/poly.js';

/** The keywords of the real grammar: tokens that give way to a longer identifier. */
const keywords = Object.values(tokens)
  .filter((t): t is TokenType => typeof t === 'object' && t !== null && 'LONGER_ALT' in t)
  .map((t) => (t.PATTERN as RegExp).source)
  .sort();

interface Rule {
  readonly match?: string;
  readonly patterns?: readonly Rule[];
}

const tm = JSON.parse(readFileSync('grammars/poly.tmLanguage.json', 'utf8')) as {
  scopeName: string;
  repository: Record<string, Rule>;
};

function matches(rule: Rule): string[] {
  return [...(rule.match ? [rule.match] : []), ...(rule.patterns ?? []).flatMap(matches)];
}

describe('.poly highlighting (page and TextMate grammar) follows grammars/poly.ts', () => {
  it('finds the grammar keywords', () => {
    expect(keywords).toContain('block');
    expect(keywords.length).toBeGreaterThan(10);
  });

  it("the page's keyword list is the grammar's", () => {
    expect([...POLY_KEYWORDS].sort()).toEqual(keywords);
  });

  it('the TextMate grammar highlights every keyword as a keyword, and its patterns compile', () => {
    expect(tm.scopeName).toBe('source.poly');
    const rules = matches(tm.repository.keyword!).map((m) => new RegExp(m));
    for (const k of keywords)
      expect(
        rules.some((r) => r.test(k)),
        k,
      ).toBe(true);
    for (const rule of Object.values(tm.repository))
      for (const m of matches(rule)) expect(() => new RegExp(m)).not.toThrow();
    expect(rules.some((r) => r.test('blocks'))).toBe(false);
  });

  it('Prism highlights .poly and WGSL', () => {
    const poly = highlight('block f(x: tensor) { return x * 2 }  # c', 'poly');
    expect(poly).toContain('<span class="token keyword">block</span>');
    expect(poly).toContain('<span class="token comment"># c</span>');
    const wgsl = highlight('@compute @workgroup_size(64) fn main() { let x: f32 = 1.0; }', 'wgsl');
    expect(wgsl).toContain('<span class="token keyword">fn</span>');
  });
});
