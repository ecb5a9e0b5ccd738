// Writes examples/images/scene.png: a small landscape (sky, sun, hills, a lake), drawn from formulas
// so the file is the same on every machine (`npx tsx scripts/make-example-image.ts`). It is an
// ordinary 8-bit RGB PNG with no colour chunks (no gAMA, iCCP or sRGB): decoders read its pixel
// values as they are, which is what the browser-versus-Node preprocessing tests compare.
import { writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';

const WIDTH = 160;
const HEIGHT = 120;
const OUT = 'examples/images/scene.png';

/** A deterministic hash of a pixel to [0, 1): texture without a random generator. */
function hash(x: number, y: number): number {
  let h = Math.imul(x, 374761393) + Math.imul(y, 668265263);
  h = Math.imul(h ^ (h >>> 13), 1274126177);
  return ((h ^ (h >>> 16)) >>> 0) / 2 ** 32;
}

const mix = (a: readonly number[], b: readonly number[], t: number) => a.map((v, i) => v + (b[i]! - v) * t);

function pixel(x: number, y: number): number[] {
  const u = x / WIDTH;
  const v = y / HEIGHT;
  const far = 0.55 + 0.06 * Math.sin(u * 9) + 0.03 * Math.sin(u * 23 + 1);
  const near = 0.7 + 0.08 * Math.sin(u * 5 + 2) + 0.02 * Math.sin(u * 31);
  const lake = 0.86;
  let c: number[];
  if (v < far) {
    c = mix([70, 130, 210], [200, 225, 250], v / far);
    const d = Math.hypot(u - 0.72, (v - 0.2) * (HEIGHT / WIDTH) * 1.33);
    if (d < 0.07) c = [255, 226, 120];
    else if (d < 0.1) c = mix([255, 226, 120], c, (d - 0.07) / 0.03);
  } else if (v < near) {
    c = mix([90, 120, 90], [60, 100, 60], (v - far) / (near - far));
  } else if (v < lake) {
    c = mix([80, 150, 60], [40, 110, 40], (v - near) / (lake - near));
  } else {
    c = mix([60, 110, 170], [30, 70, 130], (v - lake) / (1 - lake));
    c = c.map((ch) => ch + 25 * Math.sin(x * 0.9 + y * 2.1) ** 8);
  }
  const grain = (hash(x, y) - 0.5) * 18;
  return c.map((ch) => Math.max(0, Math.min(255, Math.round(ch + grain))));
}

const png = new PNG({ width: WIDTH, height: HEIGHT, colorType: 2, inputColorType: 2, inputHasAlpha: false });
const data = Buffer.alloc(WIDTH * HEIGHT * 3);
for (let y = 0; y < HEIGHT; y++) {
  for (let x = 0; x < WIDTH; x++) data.set(pixel(x, y), (y * WIDTH + x) * 3);
}
png.data = data;
writeFileSync(OUT, PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false }));
console.log(`wrote ${OUT} (${WIDTH}x${HEIGHT})`);
