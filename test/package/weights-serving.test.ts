import { createHash } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelError } from '../../runtime/src/package/errors.js';
import {
  fetchBytes,
  loadWeights,
  looksLikeHtml,
  type WeightsSpec,
} from '../../runtime/src/package/weights.js';

/**
 * A weights URL that does not answer with the weights (a 404, a server error, a dev server's
 * single-page-app fallback page, a dead server, a stalled download) is reported as what it is,
 * with the URL and a stable code, not as a file of the wrong length. Served from 127.0.0.1 in
 * this process; the package in Chromium is in bundlers.test.ts.
 */

const BYTES = Uint8Array.from({ length: 4096 }, (_, i) => (i * 37 + 11) & 0xff);
const SPEC: WeightsSpec = {
  file: 'weights.bin',
  floats: BYTES.length / 4,
  byteLength: BYTES.length,
  sha256: createHash('sha256').update(BYTES).digest('hex'),
};

/** What Vite 6's dev server answers for a path it does not serve (its index.html, 358 bytes). */
const SPA_PAGE = `<!doctype html>
<html lang="en">
  <head>
    <script type="module" src="/@vite/client"></script>
    <meta charset="UTF-8" />
    <title>consumer</title>
  </head>
  <body>
    <div id="app"></div>
    <script type="module" src="/main.js"></script>
  </body>
</html>
`;

const ROUTES: Record<string, (res: ServerResponse) => void> = {
  '/ok/weights.bin': (res) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(BYTES),
  '/missing/weights.bin': (res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'),
  '/broken/weights.bin': (res) => res.writeHead(500).end(),
  '/spa/weights.bin': (res) => res.writeHead(200, { 'content-type': 'text/html' }).end(SPA_PAGE),
  // An HTML page sent as binary, upper case, after whitespace: found by its first bytes.
  '/sniffed/weights.bin': (res) =>
    res
      .writeHead(200, { 'content-type': 'application/octet-stream' })
      .end(`\n  <!DOCTYPE HTML>${'x'.repeat(400)}`),
  '/short/weights.bin': (res) =>
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(BYTES.subarray(0, 1000)),
  // Headers and the first kilobyte, then nothing (the connection stays open).
  '/stalled/weights.bin': (res) => {
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(BYTES.length),
    });
    res.write(BYTES.subarray(0, 1024));
  },
  // Never answers at all.
  '/silent/weights.bin': () => undefined,
};

let server: Server;
let base = '';
const pending = new Set<ServerResponse>();

beforeAll(async () => {
  server = createServer((req, res) => {
    pending.add(res);
    res.on('close', () => pending.delete(res));
    (ROUTES[req.url ?? ''] ?? ((r: ServerResponse) => r.writeHead(404).end()))(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of pending) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** The ModelError `load` rejects with, as `code: message`. */
async function failure(load: Promise<unknown>): Promise<string> {
  const e = await load.then(
    () => new Error('loaded'),
    (err: unknown) => err,
  );
  if (!(e instanceof ModelError)) throw e;
  return `${e.code}: ${e.message}`;
}

const load = (path: string) => loadWeights(SPEC, `${base}${path}`, new URL(`${base}/ok/weights.bin`));

describe('weights served wrong', () => {
  it('loads weights served right (the checks let them through)', async () => {
    const progress: number[] = [];
    const floats = await loadWeights(SPEC, undefined, new URL(`${base}/ok/weights.bin`), (loaded) =>
      progress.push(loaded),
    );
    expect(new Uint8Array(floats.buffer)).toEqual(BYTES);
    expect(progress.at(-1)).toBe(BYTES.length);
  });

  it('a 404 or a server error: not served at the URL, with the status', async () => {
    expect(await failure(load('/missing/weights.bin'))).toMatch(
      new RegExp(
        `^weights-not-served: weights\\.bin is not served at ${base}/missing/weights\\.bin \\(HTTP 404 Not Found\\): serve `,
      ),
    );
    expect(await failure(load('/broken/weights.bin'))).toMatch(
      /^weights-not-served: weights\.bin is not served at \S+\/broken\/weights\.bin \(HTTP 500 Internal Server Error\)/,
    );
  });

  it('an HTML page (a dev server\u2019s fallback): by its content type, or by its first bytes', async () => {
    expect(await failure(load('/spa/weights.bin'))).toMatch(
      new RegExp(
        `^weights-html: weights\\.bin at ${base}/spa/weights\\.bin is an HTML page, not the weights \\(content-type text/html\\): .*single-page-app fallback.*Model\\.create\\(\\{ weights \\}\\)$`,
      ),
    );
    expect(await failure(load('/sniffed/weights.bin'))).toMatch(
      /^weights-html: weights\.bin at \S+\/sniffed\/weights\.bin is an HTML page, not the weights \(it starts with an HTML tag\)/,
    );
  });

  it('a file of the wrong length that is not a page is still reported by its length', async () => {
    expect(await failure(load('/short/weights.bin'))).toMatch(
      /^bad-weights: the weights file \S+\/short\/weights\.bin has 1000 bytes, but this model's weights are 4096 bytes/,
    );
  });

  it('no server, a silent server or a stalled download: unreachable, with the URL', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await failure(loadWeights(SPEC, `http://127.0.0.1:${port}/weights.bin`, new URL(base)))).toMatch(
      new RegExp(
        `^weights-unreachable: cannot fetch weights\\.bin from http://127\\.0\\.0\\.1:${port}/weights\\.bin: `,
      ),
    );
    const started = performance.now();
    expect(
      await failure(fetchBytes(`${base}/stalled/weights.bin`, 'it', SPEC, undefined, undefined, 0.3)),
    ).toBe(
      `weights-unreachable: the download of weights.bin from ${base}/stalled/weights.bin stalled: nothing received for 0.3 s after 1024 of 4096 bytes`,
    );
    expect(
      await failure(fetchBytes(`${base}/silent/weights.bin`, 'it', SPEC, undefined, undefined, 0.3)),
    ).toBe(
      `weights-unreachable: the download of weights.bin from ${base}/silent/weights.bin stalled: nothing received for 0.3 s after 0 of 4096 bytes`,
    );
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('recognises HTML by its start only', () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    for (const page of ['<!doctype html>', '<!DOCTYPE html>', ' \t\r\n<html>', '<HTML lang="en">', '<html']) {
      expect(looksLikeHtml(bytes(page)), page).toBe(true);
    }
    for (const other of ['', '<', '<!-- x -->', '<htm', 'x<html>', '<head>']) {
      expect(looksLikeHtml(bytes(other)), other).toBe(false);
    }
    expect(looksLikeHtml(BYTES)).toBe(false);
    expect(looksLikeHtml(new Uint8Array(Float32Array.of(0.1, -2, 3e-5).buffer))).toBe(false);
  });
});
