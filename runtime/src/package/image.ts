import { ModelError } from './errors.js';
import type { RgbaImage } from './preprocess.js';

/**
 * Image sources for `preprocess` and `classify`: each becomes RGBA bytes at its natural size, and
 * the resize stays `preprocessImage`'s (Pillow's bicubic), so a browser never scales the image.
 *
 * - Pixel sources are read synchronously: `ImageData` and raw `{ data, width, height }` bytes as
 *   they are; a loaded `HTMLImageElement`, a canvas (`HTMLCanvasElement`, `OffscreenCanvas`) or an
 *   `ImageBitmap` drawn 1:1 on a scratch 2D canvas and read back with `getImageData`.
 * - `Blob`/`File` and URLs need an asynchronous decode (`readImage`): `fetch` for a URL, then
 *   `createImageBitmap` with `colorSpaceConversion: 'none'` (the file's pixel values, as Pillow
 *   reads them: no ICC or gamma conversion) and `premultiplyAlpha: 'none'`. An `HTMLImageElement`
 *   goes through `createImageBitmap` too when it is available, for the same reason.
 *
 * A 2D canvas stores premultiplied colour, so the RGB of pixels with alpha < 255 comes back
 * rounded (fully transparent ones as black); opaque images are read exactly.
 */

/**
 * The instance type of a global class where the program's types declare it (lib.dom), else never:
 * a package's declarations then typecheck in a Node program without DOM types.
 */
type DomType<K extends string> = typeof globalThis extends { [P in K]: { prototype: infer T } } ? T : never;

/** An image whose pixels can be read synchronously (`preprocess`). */
export type PixelSource =
  | RgbaImage
  | DomType<'ImageData'>
  | DomType<'HTMLImageElement'>
  | DomType<'HTMLCanvasElement'>
  | DomType<'OffscreenCanvas'>
  | DomType<'ImageBitmap'>;

/** Any image `classify` and `readImage` take: a pixel source, an encoded `Blob`/`File`, or a URL (browsers). */
export type ImageSource = PixelSource | DomType<'Blob'> | string | URL;

/** The DOM sources drawn on a scratch canvas, by their global class names. */
const DRAWN = ['HTMLImageElement', 'HTMLCanvasElement', 'OffscreenCanvas', 'ImageBitmap'] as const;
type Drawn = (typeof DRAWN)[number];

/** Options that keep the decoded values as stored in the file (see the module comment). */
const DECODE = { colorSpaceConversion: 'none', premultiplyAlpha: 'none' } as const;

interface Drawable {
  readonly width: number;
  readonly height: number;
  readonly naturalWidth?: number;
  readonly naturalHeight?: number;
  readonly complete?: boolean;
  readonly src?: string;
}

interface Context2D {
  imageSmoothingEnabled: boolean;
  drawImage(image: unknown, dx: number, dy: number): void;
  getImageData(x: number, y: number, w: number, h: number): RgbaImage;
}

const globals = globalThis as unknown as Record<string, unknown>;

/** Whether `value` is an instance of the global class `name` (false where there is no such class). */
function isInstance(value: unknown, name: string): boolean {
  const cls = globals[name];
  return typeof cls === 'function' && value instanceof cls;
}

/** What `value` is, for messages: its class name, or its type. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return (value as { constructor?: { name?: string } }).constructor?.name || 'object';
}

function unsupported(message: string): ModelError {
  return new ModelError('unsupported-image', message);
}

/** Raw bytes are any object with `data` (checked by `preprocessImage`, as before sources existed). */
function isRaw(source: unknown): source is RgbaImage {
  return typeof source === 'object' && source !== null && 'data' in source;
}

function drawnKind(source: unknown): Drawn | undefined {
  return DRAWN.find((name) => isInstance(source, name));
}

/** A scratch 2D canvas of w x h: an OffscreenCanvas (also in workers), else a document's canvas. */
function scratch(w: number, h: number, what: string): Context2D {
  let ctx: unknown = null;
  if (typeof globals.OffscreenCanvas === 'function') {
    const Canvas = globals.OffscreenCanvas as new (
      w: number,
      h: number,
    ) => { getContext(t: string, o: object): unknown };
    ctx = new Canvas(w, h).getContext('2d', { willReadFrequently: true });
  } else {
    const doc = globals.document as { createElement?(t: string): unknown } | undefined;
    const canvas = doc?.createElement?.('canvas') as
      | { width: number; height: number; getContext(t: string, o: object): unknown }
      | undefined;
    if (canvas) {
      canvas.width = w;
      canvas.height = h;
      ctx = canvas.getContext('2d', { willReadFrequently: true });
    }
  }
  if (!ctx) throw unsupported(`reading the pixels of ${what} needs a 2D canvas, and there is none here`);
  return ctx as Context2D;
}

/** The natural size of a drawn source; throws for an image that is not loaded or has no pixels. */
function naturalSize(source: Drawable, kind: Drawn): [number, number] {
  if (kind === 'HTMLImageElement') {
    const src = source.src ? ` (${source.src})` : '';
    if (!source.complete) {
      throw new ModelError(
        'bad-image',
        `the <img>${src} has not finished loading: await img.decode() before preprocess (model.classify waits for it)`,
      );
    }
    if (!source.naturalWidth || !source.naturalHeight) {
      throw new ModelError('bad-image', `the <img>${src} has no pixels: it failed to load or decode`);
    }
    return [source.naturalWidth, source.naturalHeight];
  }
  if (!source.width || !source.height) {
    throw new ModelError(
      'bad-image',
      `the ${kind} is ${source.width}x${source.height}: it has no pixels${kind === 'ImageBitmap' ? ' (closed?)' : ''}`,
    );
  }
  return [source.width, source.height];
}

/** Draws `source` 1:1 at its natural size on a scratch canvas and reads the RGBA bytes back. */
function drawn(source: Drawable, kind: Drawn): RgbaImage {
  const [w, h] = naturalSize(source, kind);
  const ctx = scratch(w, h, `a ${kind}`);
  // 1:1, so no resampling happens; smoothing off makes sure of it.
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(source, 0, 0);
  try {
    return ctx.getImageData(0, 0, w, h);
  } catch (e) {
    throw new ModelError(
      'bad-image',
      `the pixels of the ${kind} cannot be read (${e instanceof Error ? e.message : String(e)}); ` +
        "a cross-origin image needs CORS (img.crossOrigin = 'anonymous' and Access-Control-Allow-Origin)",
    );
  }
}

/**
 * RGBA bytes of a pixel source, synchronously: raw bytes and `ImageData` as they are, DOM sources
 * drawn 1:1. Throws `ModelError('unsupported-image')` for anything else (including a DOM source
 * where there is no canvas, e.g. Node) and `'bad-image'` for an image without readable pixels.
 */
export function pixelsOf(source: PixelSource): RgbaImage {
  if (isRaw(source)) return source;
  const kind = drawnKind(source);
  if (kind) return drawn(source as Drawable, kind);
  const name = describe(source);
  if (source instanceof Promise) {
    throw unsupported('preprocess got a Promise: await it first (or pass the image to model.classify)');
  }
  if (isInstance(source, 'Blob') || typeof source === 'string' || isInstance(source, 'URL')) {
    throw unsupported(
      `preprocess cannot read a ${name} synchronously: a Blob or URL needs decoding; use model.classify or ` +
        '`preprocess(await readImage(source))`',
    );
  }
  if ((DRAWN as readonly string[]).includes(name) || name === 'ImageData') {
    throw unsupported(
      `a ${name} can only be read where it is a DOM object with a canvas (a browser); here pass the ` +
        'decoded pixels as { data, width, height } (RGBA or RGB bytes, e.g. from pngjs or jpeg-js)',
    );
  }
  throw unsupported(
    `not an image: got ${name}; expected ImageData, { data, width, height } bytes, an HTMLImageElement, ` +
      'a canvas or an ImageBitmap (model.classify and readImage also take a Blob, a File or a URL)',
  );
}

/** `createImageBitmap` where the platform has it (browsers, workers), else a coded error naming `what`. */
function imageBitmapFactory(what: string): (source: unknown, options: object) => Promise<ImageBitmapLike> {
  const create = globals.createImageBitmap;
  if (typeof create !== 'function') {
    throw unsupported(
      `decoding ${what} needs createImageBitmap (a browser or a Web Worker), which is missing here; in Node ` +
        'decode the image yourself (e.g. with pngjs or jpeg-js) and pass { data, width, height }',
    );
  }
  return create as (source: unknown, options: object) => Promise<ImageBitmapLike>;
}

interface ImageBitmapLike extends Drawable {
  close(): void;
}

function readBitmap(bitmap: ImageBitmapLike): RgbaImage {
  try {
    return drawn(bitmap, 'ImageBitmap');
  } finally {
    bitmap.close();
  }
}

interface BlobLike {
  readonly size: number;
  readonly type: string;
}

/** Decodes an encoded image (PNG, JPEG, WebP, ...): `from` names where it came from, for errors. */
async function decodeBlob(blob: BlobLike, from: string): Promise<RgbaImage> {
  const create = imageBitmapFactory(from);
  let bitmap: ImageBitmapLike;
  try {
    bitmap = await create(blob, DECODE);
  } catch (e) {
    throw new ModelError(
      'bad-image',
      `${from} (${blob.type || 'no type'}, ${blob.size} bytes) could not be decoded as an image: ${
        e instanceof Error ? e.message : String(e)
      }`,
    );
  }
  return readBitmap(bitmap);
}

async function fetchImage(source: string | URL): Promise<RgbaImage> {
  imageBitmapFactory(`the image at ${String(source)}`);
  const base = (globals.location as { href?: string } | undefined)?.href;
  let url: URL;
  try {
    url = new URL(source, base);
  } catch {
    throw new ModelError('image-fetch-failed', `${String(source)} is not a URL`);
  }
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new ModelError(
      'image-fetch-failed',
      `could not fetch the image ${url.href}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (!response.ok) {
    throw new ModelError(
      'image-fetch-failed',
      `could not fetch the image ${url.href}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`,
    );
  }
  return decodeBlob(await response.blob(), `the image at ${url.href}`);
}

/**
 * RGBA bytes of any image source at its natural size: a URL is fetched, a Blob/File decoded, an
 * `<img>` awaited until decoded, pixel sources read as `pixelsOf` does. Errors are `ModelError`s:
 * `'unsupported-image'` (not an image, or a source this platform cannot read, e.g. a Blob in
 * Node), `'bad-image'` (undecodable, broken or unreadable), `'image-fetch-failed'` (with the URL).
 */
export async function readImage(source: ImageSource): Promise<RgbaImage> {
  if (typeof source === 'string' || isInstance(source, 'URL')) return fetchImage(source as string | URL);
  if (isInstance(source, 'Blob')) {
    const name = (source as { name?: unknown }).name;
    return decodeBlob(source as BlobLike, typeof name === 'string' ? `the file ${name}` : 'the Blob');
  }
  if (isInstance(source, 'HTMLImageElement')) {
    const img = source as Drawable & { decode(): Promise<void> };
    if (!img.complete || !img.naturalWidth) {
      try {
        await img.decode();
      } catch {
        throw new ModelError('bad-image', `the <img> (${img.src}) failed to load or decode`);
      }
    }
    if (typeof globals.createImageBitmap === 'function') {
      const [w, h] = naturalSize(img, 'HTMLImageElement');
      const bitmap = await imageBitmapFactory('an <img>')(img, DECODE);
      // Some engines give an <img> bitmap its layout size; the pixels must be the natural ones.
      if (bitmap.width !== w || bitmap.height !== h) {
        bitmap.close();
        return pixelsOf(source as PixelSource);
      }
      return readBitmap(bitmap);
    }
  }
  return pixelsOf(source as PixelSource);
}
