#!/usr/bin/env bash
# `npm run bench:gpu -- <out-dir> [extra bench options]`: the WebGPU benchmark (bench/run.ts) on a
# machine with a real GPU, in one step. Node and node_modules (with the `webgpu` package, Dawn) are
# carried over; nothing is installed. It checks for a Vulkan driver and the adapter Dawn returns
# (refusing a software one), builds if the sources are newer than dist/, and writes to <out-dir>:
#   benchmarks.md (the report, with the top kernels of each polyc variant), bench.log, environment.txt
# Extra options go to bench/run.ts after the defaults and override them (e.g. --models cpolynext_t).
# ALLOW_FALLBACK=1 runs on a software adapter anyway (to try the script without a GPU).
# CI never runs this.
set -euo pipefail

cd "$(dirname "$0")/.."
out=${1:-gpu-bench-out}
[ $# -gt 0 ] && shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
env_file="$out/environment.txt"
: >"$env_file"

fail() {
  echo "gpu-bench: $*" >&2
  exit 1
}
say() { echo "gpu-bench: $*" | tee -a "$env_file"; }

# Node and the packages the benchmark imports, carried over in node_modules.
command -v node >/dev/null || fail 'node is not on PATH (Node >= 20 is needed)'
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || fail "Node $(node -v) is too old: Node >= 20 is needed"
for pkg in webgpu onnxruntime-node tsx typescript; do
  [ -d "node_modules/$pkg" ] || fail "node_modules/$pkg is missing: carry node_modules over from a machine that ran npm ci"
done
say "node $(node -v) on $(uname -srm)"

# Dawn reaches the GPU through Vulkan: the loader (libvulkan.so.1) and a driver's ICD json.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  fail 'the Vulkan loader libvulkan.so.1 is missing (Debian/Ubuntu: apt-get install libvulkan1)'
fi
icds=()
for dir in /etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
  for f in "$dir"/*.json; do [ -e "$f" ] && icds+=("$f"); done
done
say "Vulkan ICDs installed: ${icds[*]:-none}"
if [ -n "${VK_ICD_FILENAMES:-}" ]; then
  say "VK_ICD_FILENAMES is set by the caller: $VK_ICD_FILENAMES"
else
  # Software drivers (SwiftShader, lavapipe) would win on a machine whose GPU driver is missing.
  hardware=()
  for f in "${icds[@]}"; do
    case "$(basename "$f")" in
    *lvp* | *swiftshader*) ;;
    *) hardware+=("$f") ;;
    esac
  done
  if [ ${#hardware[@]} -eq 0 ]; then
    fail "no Vulkan driver for a GPU (no ICD json other than software ones in /etc/vulkan/icd.d or /usr/share/vulkan/icd.d).
  NVIDIA: install the driver's Vulkan part (Ubuntu: libnvidia-gl-<version>, which ships nvidia_icd.json);
  in a container, the NVIDIA toolkit mounts it only with NVIDIA_DRIVER_CAPABILITIES including 'graphics' (or 'all').
  AMD/Intel: mesa-vulkan-drivers. Or set VK_ICD_FILENAMES to the driver's ICD json."
  fi
  VK_ICD_FILENAMES=$(
    IFS=:
    echo "${hardware[*]}"
  )
  export VK_ICD_FILENAMES
  say "VK_ICD_FILENAMES=$VK_ICD_FILENAMES"
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu-bench: nvidia-smi: /' | tee -a "$env_file" || true
fi
if command -v vulkaninfo >/dev/null; then
  vulkaninfo --summary >>"$env_file" 2>&1 || say 'vulkaninfo --summary failed (see environment.txt)'
else
  say 'vulkaninfo is not installed (apt-get install vulkan-tools shows the devices): relying on the adapter Dawn returns'
fi

# The adapter Dawn returns is what the benchmark will use.
adapter=$(
  node --input-type=module -e "
    import { create, globals } from 'webgpu';
    Object.assign(globalThis, globals);
    const adapter = await create([]).requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) { console.log('NONE'); process.exit(0); }
    const i = adapter.info;
    const fallback = adapter.isFallbackAdapter || i.isFallbackAdapter;
    console.log([i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') +
      (fallback ? ' [fallback]' : '') + (adapter.features.has('timestamp-query') ? ' [timestamp-query]' : ''));
    process.exit(0);
  " 2>"$out/probe.log" | tail -n 1
) || fail "probing WebGPU failed: $(cat "$out/probe.log")"
[ -s "$out/probe.log" ] && sed 's/^/gpu-bench: probe: /' "$out/probe.log" | tee -a "$env_file" >&2
if [ -z "$adapter" ] || [ "$adapter" = NONE ]; then
  fail "Dawn found no WebGPU adapter with VK_ICD_FILENAMES=$VK_ICD_FILENAMES (is the GPU visible to this container? try vulkaninfo --summary; messages above)"
fi
say "adapter: $adapter"
if echo "$adapter" | grep -qiE 'fallback|swiftshader|llvmpipe|lavapipe'; then
  if [ "${ALLOW_FALLBACK:-}" != 1 ]; then
    fail "!!! Dawn returned a SOFTWARE adapter ($adapter), not the GPU: its numbers would say nothing about a GPU. Fix the Vulkan driver (see above), or set ALLOW_FALLBACK=1 to run anyway."
  fi
  say '!!! running on a SOFTWARE adapter (ALLOW_FALLBACK=1): these are not GPU numbers'
  require_gpu=()
else
  require_gpu=(--require-gpu)
fi

# bench/run.ts runs from sources (tsx); building checks the tree compiles and refreshes bin/polyc.
if [ ! -f dist/compiler/src/cli/main.js ] || [ -n "$(find compiler/src runtime/src grammars -name '*.ts' -newer dist/compiler/src/cli/main.js | head -n 1)" ]; then
  say 'building (npm run build)'
  npm run build >>"$out/bench.log" 2>&1 || fail "npm run build failed: see $out/bench.log"
fi

say "running the benchmark; the report goes to $out/benchmarks.md"
npm run bench -- \
  --models cpolynext_t,apolynext_t --batches 1,8 --size 224 --runs 20 --warmup 3 \
  --profile --profile-repeats 10 --section webgpu-gpu --out "$out/benchmarks.md" \
  "${require_gpu[@]}" "$@" 2>&1 | tee -a "$out/bench.log"
say "done: $out/benchmarks.md, $out/bench.log, $env_file"
