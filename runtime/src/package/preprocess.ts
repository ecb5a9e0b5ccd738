import { ModelError } from './errors.js';

/**
 * The reference evaluation's preprocessing (torchvision: Resize(shorter side) with PIL bicubic,
 * CenterCrop, ToTensor, Normalize(mean, std)), on RGBA or RGB bytes such as a canvas `ImageData`.
 *
 * The resize reproduces Pillow's antialiased bicubic resampling (a = -0.5, support scaled by the
 * downscaling factor, 22-bit fixed-point coefficients, a horizontal then a vertical pass, rounding
 * to 8 bits after each), so it matches `PIL.Image.resize(..., BICUBIC)` exactly for 8-bit RGB
 * images. Only the cropped window is computed. Alpha is ignored, as `Image.convert('RGB')` does.
 */

/** Pixels, row-major, 4 (RGBA, e.g. a canvas ImageData) or 3 (RGB) bytes each. */
export interface RgbaImage {
  /** Row-major pixels: 4 bytes (RGBA, e.g. ImageData) or 3 bytes (RGB) per pixel. */
  readonly data: Uint8ClampedArray | Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface PreprocessSpec {
  /** The model's square input size (the center crop). */
  readonly size: number;
  /** The shorter side after resizing (232 for a 224 model). */
  readonly resize: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

interface Coefficients {
  /** First input index of each output index. */
  readonly start: Int32Array;
  /** Number of taps of each output index. */
  readonly taps: Int32Array;
  /** Fixed-point weights, `stride` per output index. */
  readonly weights: Float64Array;
  readonly stride: number;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for outputs [first, first + count). */
function coefficients(inSize: number, outSize: number, first: number, count: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(count);
  const taps = new Int32Array(count);
  const weights = new Float64Array(count * stride);
  const k = new Float64Array(stride);
  for (let i = 0; i < count; i++) {
    const center = (first + i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = bicubic((x + xmin - center + 0.5) / filterScale);
      sum += k[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum === 0 ? k[x]! : k[x]! / sum;
      weights[i * stride + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    start[i] = xmin;
    taps[i] = xmax;
  }
  return { start, taps, weights, stride };
}

function clip8(v: number): number {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / ONE);
}

/** Python's round(): halves to even (torchvision's CenterCrop offsets). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Resized size with the shorter side `resize` (torchvision: the longer side is truncated). */
export function resizedSize(width: number, height: number, resize: number): [number, number] {
  if (width <= height) return [resize, Math.trunc((resize * height) / width)];
  return [Math.trunc((resize * width) / height), resize];
}

/** One image as a Float32Array [3, size, size] (NCHW without the batch), normalised. */
export function preprocessImage(image: RgbaImage, spec: PreprocessSpec): Float32Array {
  const { width, height, data } = image ?? ({} as Partial<RgbaImage>);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width! < 1 || height! < 1) {
    throw new ModelError(
      'bad-input',
      `preprocess: width and height must be positive integers, got ${width}x${height}`,
    );
  }
  const w = width!;
  const h = height!;
  if (!(data instanceof Uint8ClampedArray || data instanceof Uint8Array)) {
    throw new ModelError(
      'bad-input',
      'preprocess: data must be a Uint8ClampedArray or Uint8Array of RGBA or RGB bytes',
    );
  }
  const channels = data.length / (w * h);
  if (channels !== 4 && channels !== 3) {
    throw new ModelError(
      'bad-input',
      `preprocess: ${data.length} bytes for ${w}x${h} pixels is neither RGBA (${w * h * 4}) nor RGB (${w * h * 3})`,
    );
  }
  const size = spec.size;
  const [rw, rh] = resizedSize(w, h, spec.resize);
  const top = roundHalfEven((rh - size) / 2);
  const left = roundHalfEven((rw - size) / 2);
  const cols = coefficients(w, rw, left, size);
  const rows = coefficients(h, rh, top, size);
  // Source rows the vertical pass reads.
  let y0 = h;
  let y1 = 0;
  for (let i = 0; i < size; i++) {
    y0 = Math.min(y0, rows.start[i]!);
    y1 = Math.max(y1, rows.start[i]! + rows.taps[i]!);
  }
  // Horizontal pass: rows y0..y1 of the source, the cropped columns, rounded to 8 bits.
  const tmp = new Uint8Array((y1 - y0) * size * 3);
  for (let y = y0; y < y1; y++) {
    const row = y * w * channels;
    for (let x = 0; x < size; x++) {
      const s = cols.start[x]!;
      const n = cols.taps[x]!;
      const kb = x * cols.stride;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let t = 0; t < n; t++) {
        const k = cols.weights[kb + t]!;
        const p = row + (s + t) * channels;
        r += data[p]! * k;
        g += data[p + 1]! * k;
        b += data[p + 2]! * k;
      }
      const o = ((y - y0) * size + x) * 3;
      tmp[o] = clip8(r);
      tmp[o + 1] = clip8(g);
      tmp[o + 2] = clip8(b);
    }
  }
  // Vertical pass, then ToTensor and Normalize into CHW.
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < size; y++) {
    const s = rows.start[y]! - y0;
    const n = rows.taps[y]!;
    const kb = y * rows.stride;
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < 3; c++) {
        let v = HALF;
        for (let t = 0; t < n; t++) v += tmp[((s + t) * size + x) * 3 + c]! * rows.weights[kb + t]!;
        out[c * plane + y * size + x] = (clip8(v) / 255 - spec.mean[c]!) / spec.std[c]!;
      }
    }
  }
  return out;
}
