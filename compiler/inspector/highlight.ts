import './prism-manual.js';
import Prism from 'prismjs/components/prism-core.js';
import 'prismjs/components/prism-wgsl.js';

/**
 * Syntax highlighting: WGSL through Prism's maintained grammar, .poly through the grammar below
 * (the same tokens as grammars/poly.ts and grammars/poly.tmLanguage.json; a test keeps the three
 * keyword lists equal).
 */

export const POLY_KEYWORDS = [
  'import',
  'const',
  'config',
  'block',
  'model',
  'for',
  'in',
  'if',
  'then',
  'else',
  'return',
  'assert',
  'ignore',
  'and',
  'or',
  'not',
  'true',
  'false',
] as const;

Prism.languages.poly = {
  comment: /#.*/,
  string: { pattern: /"(?:[^"\\\n]|\\.)*"/, greedy: true },
  keyword: new RegExp(`\\b(?:${POLY_KEYWORDS.join('|')})\\b`),
  'class-name': /\b(?:f32|int|float|bool|str|tensor|path)\b/,
  function: /\b[A-Za-z_]\w*(?=\s*\()/,
  number: /\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b/,
  operator: /->|\.\.|==|!=|<=|>=|\/\/|[-+*/%@^<>=]/,
  punctuation: /[()[\]{},.:;]/,
};

/** HTML of `code` highlighted as `language` ('poly' or 'wgsl'). */
export function highlight(code: string, language: 'poly' | 'wgsl'): string {
  return Prism.highlight(code, Prism.languages[language]!, language);
}
