/**
 * Getting a WebGPU device, in a browser (`navigator.gpu`) or in Node (the `webgpu` package, Dawn).
 * Browser-safe: the Node package is loaded with a dynamic `import()` of a variable specifier, so
 * bundlers leave it alone and browsers never reach it. There is no CPU fallback: without WebGPU
 * every entry point fails with a `RuntimeError` that says what to install or set.
 */

/** Stable codes of `RuntimeError`, for callers that branch on the kind of failure. */
export type RuntimeErrorCode =
  /** No WebGPU implementation: no `navigator.gpu`, and (in Node) the `webgpu` package is missing. */
  | 'no-webgpu'
  /** WebGPU exists but `requestAdapter()` found no adapter (no GPU and no software driver). */
  | 'no-adapter'
  /** The plan needs more than the adapter offers (the message names the limit, needed and available). */
  | 'limit-exceeded'
  /** The adapter is a software (fallback) implementation and the caller asked for `hardwareOnly`. */
  | 'software-adapter'
  /** The device was lost and could not be recreated, or was lost again in the retried run. */
  | 'device-lost'
  /** `run` was called with a bad batch or bad inputs. */
  | 'bad-input'
  /** The plan is malformed (version, offsets, unknown kernels, sizes). */
  | 'bad-plan'
  /** A kernel's WGSL did not compile or its pipeline could not be created (the message names the kernel). */
  | 'bad-kernel'
  /** A GPU validation error while building or running (the message names the step when it can). */
  | 'gpu-error'
  /** The GPU ran out of memory allocating the model's buffers. */
  | 'out-of-memory'
  /** The model was used after `destroy()`. */
  | 'destroyed';

/** An error with a stable code to branch on (`RuntimeError`, a package's `ModelError`). */
export class CodedError<Code extends string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A WebGPU failure: no WebGPU, no adapter, a limit too small, a lost device, a GPU error. */
export class RuntimeError extends CodedError<RuntimeErrorCode> {
  override readonly name = 'RuntimeError';
}

export interface AcquireOptions {
  /** Use this device instead of creating one; its limits are still checked against `requiredLimits`. */
  readonly device?: GPUDevice;
  /** Limits to request, e.g. `{ maxStorageBufferBindingSize: 300e6 }`; each must fit the adapter's. */
  readonly requiredLimits?: Readonly<Record<string, number>>;
  /** Passed to `requestAdapter`. */
  readonly powerPreference?: GPUPowerPreference;
  /**
   * Features to request where the adapter has them (the engine asks for 'timestamp-query' only
   * when profiling); the device's `features` say which it got. Ignored with `device`.
   */
  readonly optionalFeatures?: readonly GPUFeatureName[];
  /**
   * Fail with `RuntimeError('software-adapter')` rather than use a software (fallback) adapter:
   * for a caller with a CPU path that beats a CPU emulating a GPU (a package's `backend: 'auto'`).
   * Ignored with `device`: a device the caller chose is used as it is.
   */
  readonly hardwareOnly?: boolean;
}

export interface AcquiredDevice {
  readonly device: GPUDevice;
  /** One line describing the adapter, e.g. `google swiftshader (SwiftShader driver 5.0.0, fallback)`. */
  readonly adapterInfo: string;
  /** The adapter's identity fields (empty strings where the platform does not tell). */
  readonly adapter: AdapterIdentity;
}

/**
 * What identifies an adapter, from `GPUAdapterInfo`: tuned kernel choices (`polyc tune`) are kept
 * per adapter under a key made of these fields. Browsers may leave some empty for privacy.
 */
export interface AdapterIdentity {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly isFallbackAdapter: boolean;
}

const NODE_HELP =
  'In Node, install the `webgpu` package (Dawn: `npm i -D webgpu`); on Linux without a GPU also set ' +
  "VK_ICD_FILENAMES to SwiftShader's Vulkan driver, which Debian's `chromium` package ships " +
  '(VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json; Debian 12 also needs `libvulkan1`).';
/** Where Debian's `chromium` package puts SwiftShader's Vulkan driver manifest. */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const BROWSER_HELP =
  'Use a browser with WebGPU enabled (Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu).';

let nodeGpu: Promise<GPU | string> | undefined;

export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** The Node `webgpu` package's GPU, created once per process, or why it could not be loaded. */
async function loadNodeGpu(): Promise<GPU | string> {
  nodeGpu ??= (async () => {
    // A variable specifier: TypeScript does not resolve it and bundlers do not try to inline it; the
    // comments keep Vite and webpack from warning about (or wrapping) an import they cannot resolve.
    const specifier = 'webgpu';
    await ensureRuntimeDir();
    let mod: { create?: (flags: string[]) => GPU; globals?: Record<string, unknown> };
    try {
      mod = await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);
    } catch (e) {
      return `importing it failed (${e instanceof Error ? e.message : String(e)})`;
    }
    if (typeof mod.create !== 'function') return 'it has no create() export';
    // GPUBufferUsage, GPUShaderStage, GPUMapMode, ... for code that expects the browser's globals.
    if (mod.globals) {
      for (const [k, v] of Object.entries(mod.globals)) {
        if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
      }
    }
    try {
      // Dawn zero-initialises workgroup memory (tile kernels stage a tile of pixels there). With
      // Vulkan's extension for it, SwiftShader compiles one store per element into the kernel, and
      // a model's pipelines take several times longer to compile; Tint's own zero-initialisation
      // (a loop over the workgroup's invocations and a barrier, what Dawn does on its other
      // backends) costs the same at run time on a GPU.
      return mod.create(['disable-dawn-features=use_vulkan_zero_initialize_workgroup_memory_extension']);
    } catch (e) {
      return `its create() failed (${e instanceof Error ? e.message : String(e)})`;
    }
  })();
  return nodeGpu;
}

/** What the runtime uses of Node's `process`, reached through globalThis (runtime/ imports no Node module). */
interface NodeProcess {
  readonly platform: string;
  readonly env: Record<string, string | undefined>;
  on(event: 'exit', listener: () => void): void;
}

interface NodeFs {
  statSync(path: string, options: { throwIfNoEntry: false }): { isDirectory(): boolean } | undefined;
  existsSync(path: string): boolean;
  mkdtempSync(prefix: string): string;
  rmSync(path: string, options: { recursive: true; force: true }): void;
}

const nodeProcess = (): NodeProcess => (globalThis as unknown as { process: NodeProcess }).process;

/** Node's `fs`, by a variable specifier: bundlers and browsers leave it alone. */
async function nodeFs(): Promise<NodeFs> {
  const specifier = 'node:fs';
  return (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as NodeFs;
}

/**
 * Dawn on Linux probes for a Wayland display, and libwayland prints `XDG_RUNTIME_DIR is invalid or
 * not set in the environment` (twice) when the variable is unset or not an absolute path. A process
 * without a session (a CI job, a container, ssh without a login manager) has none; it is then
 * pointed at a private temporary directory (mkdtemp makes it 0700, as the XDG spec asks), removed
 * at exit. A variable naming a directory is left as it is.
 */
async function ensureRuntimeDir(): Promise<void> {
  const proc = nodeProcess();
  if (proc.platform !== 'linux') return;
  const fs = await nodeFs();
  const current = proc.env.XDG_RUNTIME_DIR;
  if (current?.startsWith('/') && fs.statSync(current, { throwIfNoEntry: false })?.isDirectory()) return;
  const specifier = 'node:os';
  const os = (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as { tmpdir(): string };
  const dir = fs.mkdtempSync(`${os.tmpdir()}/polyc-xdg-`);
  proc.env.XDG_RUNTIME_DIR = dir;
  proc.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
}

/**
 * Why Dawn in Node found no adapter although `webgpu` loaded: on Linux, no Vulkan driver (ICD) it
 * can use. Names a `VK_ICD_FILENAMES` that points nowhere, and SwiftShader's driver when it is on disk.
 */
async function noAdapterHelp(): Promise<string> {
  const proc = nodeProcess();
  if (proc.platform !== 'linux') {
    return 'The `webgpu` package (Dawn) is installed but found no usable GPU: update the GPU driver (Metal on macOS, D3D12 or Vulkan on Windows).';
  }
  const fs = await nodeFs();
  const icd = proc.env.VK_ICD_FILENAMES;
  const missing = (icd ?? '').split(':').filter((f) => f !== '' && !fs.existsSync(f));
  const swiftshader = fs.existsSync(SWIFTSHADER_ICD);
  const software = swiftshader
    ? `SwiftShader's (a CPU Vulkan driver) is on this machine: VK_ICD_FILENAMES=${SWIFTSHADER_ICD}`
    : `without a GPU, Debian's \`chromium\` package ships SwiftShader's (a CPU Vulkan driver) as ${SWIFTSHADER_ICD}`;
  const why =
    missing.length > 0
      ? `VK_ICD_FILENAMES names ${missing.map((f) => `'${f}'`).join(', ')}, which ${missing.length === 1 ? 'does' : 'do'} not exist`
      : icd !== undefined
        ? `the Vulkan driver VK_ICD_FILENAMES names (${icd}) offers no adapter Dawn can use`
        : 'no Vulkan driver (ICD) that Dawn can use is installed';
  return (
    `The \`webgpu\` package (Dawn) is installed, but ${why}. Install a Vulkan driver for your GPU, or ` +
    `set VK_ICD_FILENAMES to a driver's ICD manifest (JSON); ${software}. ` +
    'Dawn also needs the Vulkan loader (Debian: `libvulkan1`).'
  );
}

/** The platform's WebGPU entry point, or a `RuntimeError('no-webgpu')` explaining how to get one. */
export async function getGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (isNode()) {
    const gpu = await loadNodeGpu();
    if (typeof gpu !== 'string') return gpu;
    throw new RuntimeError(
      'no-webgpu',
      `WebGPU is not available: the \`webgpu\` package: ${gpu}. ${NODE_HELP}`,
    );
  }
  throw new RuntimeError('no-webgpu', `WebGPU is not available (no navigator.gpu). ${BROWSER_HELP}`);
}

function identify(adapterInfo: GPUAdapterInfo | undefined, adapter?: GPUAdapter): AdapterIdentity {
  const info = adapterInfo as Partial<GPUAdapterInfo> | undefined;
  const fallback =
    (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ??
    (adapter as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: fallback === true,
  };
}

const adapterName = (id: AdapterIdentity): string =>
  [id.vendor, id.architecture].filter((s) => s).join(' ') || 'unknown adapter';

/**
 * Software WebGPU implementations, as their adapters name themselves: Chromium's and Dawn's
 * SwiftShader, Mesa's lavapipe (llvmpipe), Windows' WARP (Microsoft Basic Render Driver). Some
 * report `isFallbackAdapter: false` (SwiftShader through Vulkan in Node, lavapipe as a Vulkan
 * device), so the name is checked too.
 */
const SOFTWARE_ADAPTER = /swiftshader|lavapipe|llvmpipe|\bwarp\b|microsoft basic render/i;

/** Whether the adapter is a software (fallback) one: the CPU emulating a GPU. */
export function isSoftwareAdapter(id: AdapterIdentity): boolean {
  return (
    id.isFallbackAdapter ||
    SOFTWARE_ADAPTER.test([id.vendor, id.architecture, id.device, id.description].join(' '))
  );
}

function describeAdapter(id: AdapterIdentity): string {
  const name = adapterName(id);
  const details = [id.description || id.device, id.isFallbackAdapter ? 'fallback' : ''].filter((s) => s);
  return details.length > 0 ? `${name} (${details.join(', ')})` : name;
}

/** The adapter the platform would give `acquireDevice` (no device is created). */
export async function queryAdapter(
  options: Pick<AcquireOptions, 'powerPreference'> = {},
): Promise<{ readonly adapter: AdapterIdentity; readonly adapterInfo: string }> {
  const adapter = await requestAdapter(await getGpu(), options);
  const id = identify(adapter.info, adapter);
  return { adapter: id, adapterInfo: describeAdapter(id) };
}

async function requestAdapter(
  gpu: GPU,
  options: Pick<AcquireOptions, 'powerPreference'>,
): Promise<GPUAdapter> {
  const adapter = await gpu.requestAdapter(
    options.powerPreference ? { powerPreference: options.powerPreference } : undefined,
  );
  if (!adapter) {
    throw new RuntimeError(
      'no-adapter',
      `WebGPU found no adapter (no usable GPU or software driver). ${
        isNode() && !(globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu
          ? await noAdapterHelp()
          : BROWSER_HELP
      }`,
    );
  }
  return adapter;
}

/** Limits whose name starts with `min` are alignments: smaller is stricter. */
function fits(name: string, needed: number, available: number): boolean {
  return name.startsWith('min') ? needed >= available : needed <= available;
}

function checkLimits(
  limits: GPUSupportedLimits,
  required: Readonly<Record<string, number>>,
  what: string,
): Record<string, number> {
  const request: Record<string, number> = {};
  for (const [name, needed] of Object.entries(required)) {
    const available = (limits as unknown as Record<string, number | undefined>)[name];
    if (available === undefined) {
      throw new RuntimeError('limit-exceeded', `${what} does not know the limit ${name} (needed ${needed})`);
    }
    if (!fits(name, needed, available)) {
      throw new RuntimeError(
        'limit-exceeded',
        `${what} limit ${name} is too small: needed ${needed}, available ${available}`,
      );
    }
    // Asking for less than the default is allowed: the device then gets the default.
    request[name] = needed;
  }
  return request;
}

/**
 * A WebGPU device with at least `requiredLimits`. Throws `RuntimeError` with code 'no-webgpu',
 * 'no-adapter' or 'limit-exceeded'; never falls back to the CPU.
 */
export async function acquireDevice(options: AcquireOptions = {}): Promise<AcquiredDevice> {
  const required = options.requiredLimits ?? {};
  if (options.device) {
    checkLimits(options.device.limits, required, 'the given device');
    // GPUDevice.adapterInfo is recent (Chrome 132): older browsers lack it.
    const info = (options.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    const adapter = identify(info);
    return {
      device: options.device,
      adapterInfo: info ? describeAdapter(adapter) : 'caller-provided device',
      adapter,
    };
  }
  const adapter = await requestAdapter(await getGpu(), options);
  const identity = identify(adapter.info, adapter);
  const adapterInfo = describeAdapter(identity);
  if (options.hardwareOnly && isSoftwareAdapter(identity)) {
    throw new RuntimeError(
      'software-adapter',
      `WebGPU adapter '${adapterName(identity)}' is a software (fallback) adapter; the CPU backend is faster`,
    );
  }
  const requiredLimits = checkLimits(adapter.limits, required, `the adapter ${adapterInfo}`);
  const requiredFeatures = (options.optionalFeatures ?? []).filter((f) => adapter.features.has(f));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'polyc' });
  } catch (e) {
    throw new RuntimeError(
      'limit-exceeded',
      `requestDevice failed on ${adapterInfo} with limits ${JSON.stringify(requiredLimits)}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return { device, adapterInfo, adapter: identity };
}
