/**
 * package.json and weights.json of a generated package (plain data; the driver serialises them).
 */

export interface WeightsManifest {
  readonly format: 'polyc-weights';
  readonly version: 1;
  readonly file: string;
  /**
   * The element type: float32, or IEEE binary16 (`--weights-dtype f16`; its small tensors stay
   * float32, see `tensors`), widened to float32 on load.
   */
  readonly dtype: 'float32' | 'float16';
  readonly byteOrder: 'little-endian';
  /** Number of elements (weights). */
  readonly length: number;
  readonly byteLength: number;
  /** Lower-case hex SHA-256 of the file. */
  readonly sha256: string;
  /** Every tensor starts at a multiple of this many bytes. */
  readonly alignment: number;
  /** Deterministic random weights (compiled without --weights), not a trained model. */
  readonly synthetic: boolean;
  /** The checkpoint the weights come from (its file name), when not synthetic. */
  readonly checkpoint: string | null;
  /**
   * What the file holds: each load-time tensor the kernels read (checkpoint weights and constants
   * folded from them), by module value id, at `offset` elements, `size` elements long (the same
   * element offsets in either dtype). In a float16 file each tensor also says its own `dtype`
   * (the small ones stay float32) and where its bytes start, `byteOffset`; its range runs to the
   * next tensor's.
   */
  readonly tensors: readonly {
    readonly id: number;
    readonly offset: number;
    readonly size: number;
    readonly dtype?: 'float32' | 'float16';
    readonly byteOffset?: number;
  }[];
}

/** npm package names: lower case, URL-safe, at most 214 characters, optionally scoped. */
const NPM_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;

/** Why `name` is not a valid npm package name, or null. */
export function invalidPackageName(name: string): string | null {
  if (name.length === 0) return 'it is empty';
  if (name.length > 214) return 'it is longer than 214 characters';
  if (name !== name.toLowerCase()) return 'it has upper-case letters';
  if (/^[._]/.test(name)) return 'it starts with . or _';
  if (!NPM_NAME.test(name)) return 'it has characters npm does not allow (use a-z, 0-9, -, ., _ and ~)';
  return null;
}

/** The default npm name of a model: `cpolynext_lr` becomes `cpolynext-lr`. */
export function defaultPackageName(model: string): string {
  const name = model
    .toLowerCase()
    .replace(/[^a-z0-9-.~]+/g, '-')
    .replace(/^[-._]+/, '');
  return name || 'polyc-model';
}

export interface PackageJsonInfo {
  readonly name: string;
  readonly model: string;
  readonly description: string;
  readonly polycVersion: string;
  readonly source: string;
  readonly settings: Readonly<Record<string, number | boolean | string>>;
  /** SPDX licence expression (or npm's 'UNLICENSED'). */
  readonly license: string;
  readonly synthetic: boolean;
  readonly files: readonly string[];
}

export function packageJson(p: PackageJsonInfo): Record<string, unknown> {
  return {
    name: p.name,
    version: '0.1.0',
    description: p.description,
    license: p.license,
    type: 'module',
    main: './index.js',
    types: './index.d.ts',
    exports: {
      '.': { types: './index.d.ts', default: './index.js' },
      './runtime': { types: './runtime.d.ts', default: './runtime.js' },
      './weights.bin': './weights.bin',
      './weights.json': './weights.json',
      './package.json': './package.json',
    },
    files: [...p.files],
    sideEffects: false,
    engines: { node: '>=20' },
    peerDependencies: { webgpu: '>=0.6.2' },
    peerDependenciesMeta: { webgpu: { optional: true } },
    keywords: ['polyc', 'polynext', 'webgpu', 'image-classification'],
    polyc: {
      version: p.polycVersion,
      model: p.model,
      source: p.source,
      settings: p.settings,
      weights: p.synthetic ? 'synthetic' : 'checkpoint',
    },
  };
}
