/**
 * Decodes a `.poly` string literal (with its quotes): the escapes \\ \" \n \t \r and \u{hex}.
 * Returns null for any other escape, so the parser can report it instead of crashing.
 */
export function decodeString(image: string): string | null {
  let out = '';
  for (let i = 1; i < image.length - 1; i++) {
    const c = image[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = image[++i];
    if (e === 'n') out += '\n';
    else if (e === 't') out += '\t';
    else if (e === 'r') out += '\r';
    else if (e === '"' || e === '\\') out += e;
    else if (e === 'u' && image[i + 1] === '{') {
      const end = image.indexOf('}', i);
      const code = end < 0 ? Number.NaN : Number.parseInt(image.slice(i + 2, end), 16);
      if (!Number.isInteger(code) || code > 0x10ffff) return null;
      out += String.fromCodePoint(code);
      i = end;
    } else return null;
  }
  return out;
}
