import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Writes `content` as the named section of a markdown report, keeping the other sections: each
 * benchmark owns the text between `<!-- name -->` and `<!-- /name -->`.
 */
export function writeSection(file: string, name: string, content: string): void {
  const open = `<!-- ${name} -->`;
  const close = `<!-- /${name} -->`;
  const block = `${open}\n${content.trim()}\n${close}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  text =
    start >= 0 && end > start
      ? text.slice(0, start) + block + text.slice(end + close.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
}
