import { statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InspectorData } from '../../inspector/data.js';
import { fail, InternalError } from '../diagnostics/diagnostic.js';
import type { InspectRequest } from '../inspect/extract.js';
import { inspectModel } from '../inspect/extract.js';
import { inspectorHtml } from '../inspect/page.js';
import type { CliIo } from './command.js';
import { fileHost } from './files.js';

/**
 * `polyc inspect --serve`: the inspector page on 127.0.0.1. The page polls `/build` (a counter)
 * and fetches `/data.json` when it moves; the server polls the modification times of every source
 * file the last build read (editors replace files on save, which file watchers lose track of) and
 * rebuilds on a change. A build with user errors serves data whose `diagnostics` the page shows.
 */
export interface InspectorServer {
  readonly url: string;
  /** How many builds have been served (the first is 1). */
  build(): number;
  close(): Promise<void>;
  /** Settles when the server stops. */
  readonly closed: Promise<void>;
}

const POLL_MS = 250;

export async function serveInspector(
  request: InspectRequest,
  port: number,
  io: CliIo,
): Promise<InspectorServer> {
  const initial = build(request, io);
  if (!initial) throw new InternalError('the inspector data could not be built');
  let data: InspectorData = initial;
  let builds = 1;
  let stamps = stampsOf(watched(request, data));
  const timer = setInterval(() => {
    const now = stampsOf(watched(request, data));
    if (now === stamps) return;
    stamps = now;
    data = build(request, io) ?? data;
    builds++;
    io.err(
      data.model
        ? `rebuilt ${request.entry} (build ${builds})`
        : `build ${builds}: ${data.diagnostics.length} error(s) in ${request.entry}`,
    );
  }, POLL_MS);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const send = (type: string, body: string) =>
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    if (path === '/') {
      inspectorHtml(data, true).then(
        (html) => send('text/html; charset=utf-8', html),
        (e: Error) => res.writeHead(500).end(e.message),
      );
    } else if (path === '/data.json') {
      send('application/json', JSON.stringify(data));
    } else if (path === '/build') {
      send('text/plain', String(builds));
    } else {
      res.writeHead(404).end();
    }
  });
  const closed = new Promise<void>((resolve) => server.on('close', resolve));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
  } catch (e) {
    clearInterval(timer);
    const why =
      (e as NodeJS.ErrnoException).code === 'EADDRINUSE'
        ? 'is in use'
        : `cannot be used: ${(e as Error).message}`;
    fail('E0701', `port ${port} on 127.0.0.1 ${why}; choose another with --port (0 picks a free one)`);
  }
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  io.out(`serving ${url} (Ctrl-C stops)`);
  return {
    url,
    build: () => builds,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    closed,
  };
}

/** A build of the data, or null after an internal error (reported; the last build stays served). */
function build(request: InspectRequest, io: CliIo): InspectorData | null {
  try {
    return inspectModel(request, fileHost);
  } catch (e) {
    io.err(`internal compiler error: ${(e as Error).stack ?? String(e)}`);
    return null;
  }
}

function watched(request: InspectRequest, data: InspectorData): string[] {
  return [...new Set([request.entry, ...data.sources.map((s) => s.file)])];
}

/** Modification times and sizes of the files, as one comparable string. */
function stampsOf(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const s = statSync(f);
        return `${f}:${s.mtimeMs}:${s.size}`;
      } catch {
        return `${f}:missing`;
      }
    })
    .join('|');
}
