#!/usr/bin/env bash
# Run the reference benchmark (scripts/bench.ts) on the WebGPU backend and write
# results/bench_webgpu.json. Meant for a machine with a real GPU: it checks first which adapter
# WebGPU gets and refuses a software one (Mesa llvmpipe / lavapipe, SwiftShader), whose figures
# say nothing about GPUs, unless --allow-software is given (for smoke tests).
#
#   scripts/gpu_bench.sh [--allow-software] [--out FILE] [bench flags: --reps N --warmup N --rows A,B …]
#
# Needs Node.js/npm (for the pinned Deno, fetched by npx) or deno 2.9.6 on PATH, and a GPU driver
# with Vulkan (Linux: the NVIDIA driver's Vulkan ICD, or mesa-vulkan-drivers for AMD/Intel),
# Metal (macOS) or D3D12 (Windows) that Deno's WebGPU (wgpu) can use.
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1
unset RUST_BACKTRACE || true

if command -v deno >/dev/null 2>&1 && deno --version 2>/dev/null | grep -q '^deno 2\.9\.6'; then
  DENO=(deno)
else
  DENO=(npx --yes deno@2.9.6)
fi

allow_software=0
out=results/bench_webgpu.json
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --allow-software) allow_software=1 ;;
    --out) out="$2"; shift ;;
    --out=*) out="${1#--out=}" ;;
    --backend|--backend=*) echo "gpu_bench.sh: the backend is always webgpu" >&2; exit 2 ;;
    *) args+=("$1") ;;
  esac
  shift
done

adapter=$("${DENO[@]}" eval '
const a = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
console.log(a ? [a.info.vendor, a.info.architecture, a.info.device, a.info.description].join(" | ") : "none");
')
echo "WebGPU adapter: ${adapter}"
if [[ "$adapter" == "none" ]]; then
  echo "gpu_bench.sh: WebGPU found no adapter (navigator.gpu.requestAdapter() gave null)." >&2
  echo "  Install a Vulkan driver (NVIDIA: the driver's Vulkan ICD, e.g. libnvidia-gl-<version>;" >&2
  echo "  AMD/Intel: mesa-vulkan-drivers) and check with: vulkaninfo --summary" >&2
  exit 1
fi
if grep -qiE 'llvmpipe|lavapipe|swiftshader|software' <<<"$adapter"; then
  if [[ $allow_software -eq 0 ]]; then
    echo "gpu_bench.sh: this is a software adapter (CPU emulation), not a GPU; its timings say" >&2
    echo "  nothing about GPUs. Run on a machine with a GPU, or pass --allow-software to smoke-test." >&2
    exit 1
  fi
  echo "(software adapter: smoke test only)"
fi

"${DENO[@]}" task bench --backend webgpu --out "$out" ${args[@]+"${args[@]}"}
