/**
 * The SIMD128 roofline of this machine and engine, and how close the dense GEMM (kernels/gemm.h)
 * gets to it in every product shape of the reference configuration (batch 32 × 100 bins = 3200
 * rows, width 128, feed-forward 512, 4 heads of 32 over 100 bins):
 *
 * - `peak`: `simd_peak`, a register-resident loop of 14 independent multiply-add chains (112
 *   flops per step, no memory access): the most multiply-adds per second the engine issues,
 *   for the exact build (separate `f32x4.mul` + `f32x4.add`) and the fast one
 *   (`f32x4.relaxed_madd`);
 * - `gemm`: C = A · B (+ bias) through the `linear_forward` / `bmm` / `gemm_tn` exports on a
 *   kernel instance of its own, per shape and build, with its GFLOP/s and its share of the peak.
 *
 * Medians of `--reps` timed runs (each long enough to take ≥ 20 ms) after a warm-up. Run it on
 * an idle machine:
 *
 *     deno task peak [--reps N] [--out FILE.json]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeJsonAtomic } from "../lib/core/io.ts";
import { fastKernelsSupported, type KernelPrecision, setKernelPrecision } from "./precision.ts";
import { type KernelExports, newKernelInstance } from "./wasm.ts";

/** One product shape of the reference configuration. */
export interface GemmShape {
  /** What it is in the model. */
  name: string;
  /** Which export runs it. */
  op: "linear_forward" | "bmm" | "gemm_tn";
  /** Batch (bmm only), rows M, inner K, columns N. */
  batch: number;
  /** bmm only: B stored [N, K] and used transposed, as the attention's k (default false). */
  transposeB?: boolean;
  M: number;
  K: number;
  N: number;
}

/** The dense products of a standard train step at the reference configuration. */
export const REFERENCE_SHAPES: readonly GemmShape[] = [
  { name: "qkv projection (fwd)", op: "linear_forward", batch: 1, M: 3200, K: 128, N: 384 },
  { name: "ff in (fwd)", op: "linear_forward", batch: 1, M: 3200, K: 128, N: 512 },
  { name: "ff out (fwd)", op: "linear_forward", batch: 1, M: 3200, K: 512, N: 128 },
  { name: "attn out (fwd)", op: "linear_forward", batch: 1, M: 3200, K: 128, N: 128 },
  { name: "ff out dx = dy·Wᵀ", op: "bmm", batch: 1, M: 3200, K: 128, N: 512 },
  { name: "ff in dW = xᵀ·dy", op: "gemm_tn", batch: 1, M: 3200, K: 128, N: 512 },
  { name: "scores q·kᵀ", op: "bmm", batch: 128, M: 100, K: 32, N: 100, transposeB: true },
  { name: "att·v", op: "bmm", batch: 128, M: 100, K: 100, N: 32 },
];

/** One measured row of {@linkcode measurePeak}. */
export interface PeakRow {
  /** `peak` or the shape's name. */
  name: string;
  /** `exact` or `fast`. */
  precision: KernelPrecision;
  /** Median GFLOP/s. */
  gflops: number;
  /** Share of the same build's peak (GEMM rows). */
  ofPeak?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median seconds of `f` over `reps` timed batches of `inner` calls each. */
function timeIt(f: () => void, reps: number, inner: number): number {
  for (let i = 0; i < inner; i++) f();
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) f();
    ts.push((performance.now() - t0) / 1000 / inner);
  }
  return median(ts);
}

function gemmRunner(ex: KernelExports, s: GemmShape): () => void {
  const { batch, M, K, N } = s;
  let next = Math.ceil((ex.__heap_base.value as number) / 16) * 16;
  const alloc = (floats: number) => {
    const p = next;
    next += Math.ceil(floats * 4 / 16) * 16 + 64;
    const have = ex.memory.buffer.byteLength;
    if (next > have) ex.memory.grow(Math.ceil((next - have) / 65536));
    return p;
  };
  const a = alloc(batch * M * K), b = alloc(batch * K * N), c = alloc(batch * M * N);
  const bias = alloc(N + 8);
  const scratch = alloc(
    s.op === "linear_forward"
      ? ex.linear_scratch_floats(M, N, K, 0)
      : s.op === "bmm"
      ? ex.bmm_scratch_floats(M, N, K, 0)
      : ex.gemm_tn_scratch_floats(K, M, N),
  );
  const f32 = new Float32Array(ex.memory.buffer);
  for (let i = 0; i < batch * M * K; i++) f32[a / 4 + i] = Math.sin(i * 0.37);
  for (let i = 0; i < batch * K * N; i++) f32[b / 4 + i] = Math.cos(i * 0.11);
  if (s.op === "linear_forward") {
    return () => ex.linear_forward(a, b, bias, c, M, N, K, 0, scratch);
  }
  if (s.op === "bmm") {
    return () => ex.bmm(a, b, c, batch, M, N, K, 0, s.transposeB ? 1 : 0, 0, scratch);
  }
  // gemm_tn: C[M, N] = Xᵀ · D with X [K, M] and D [K, N]
  return () => ex.gemm_tn(a, b, c, K, M, N, M, N, 0, scratch);
}

/**
 * Measure the SIMD peak and the GEMM at each shape for the exact build and (where the engine has
 * relaxed SIMD) the fast one.
 *
 * @example
 * ```ts
 * import { measurePeak } from "@hest/hest/kernels/peak";
 * const rows = measurePeak({ reps: 3, shapes: [] });
 * rows[0].name; // "peak"
 * ```
 */
export function measurePeak(
  opts: { reps?: number; shapes?: readonly GemmShape[] } = {},
): PeakRow[] {
  const reps = opts.reps ?? 7;
  const shapes = opts.shapes ?? REFERENCE_SHAPES;
  const rows: PeakRow[] = [];
  const precisions: KernelPrecision[] = fastKernelsSupported() ? ["exact", "fast"] : ["exact"];
  for (const p of precisions) {
    setKernelPrecision(p);
    const ex = newKernelInstance();
    const steps = 2_000_000;
    const peak = 112 * steps / timeIt(() => ex.simd_peak(steps, 1), reps, 1) / 1e9;
    rows.push({ name: "peak", precision: p, gflops: round1(peak) });
    for (const s of shapes) {
      const f = gemmRunner(ex, s);
      const flops = 2 * s.batch * s.M * s.K * s.N;
      const inner = Math.max(1, Math.round(0.02 * 30e9 / flops));
      const gf = flops / timeIt(f, reps, inner) / 1e9;
      rows.push({ name: s.name, precision: p, gflops: round1(gf), ofPeak: round2(gf / peak) });
    }
  }
  setKernelPrecision("exact");
  return rows;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { reps: { type: "string", default: "7" }, out: { type: "string" } },
    strict: true,
  });
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) {
    console.error(`error: --reps must be an integer >= 1, found ${values.reps}`);
    Deno.exit(2);
  }
  const rows = measurePeak({ reps });
  for (const r of rows) {
    console.log(
      `${r.precision.padEnd(6)} ${r.name.padEnd(24)} ${r.gflops.toFixed(1).padStart(6)} GFLOP/s` +
        (r.ofPeak !== undefined ? `  ${(100 * r.ofPeak).toFixed(0).padStart(3)} % of peak` : ""),
    );
  }
  if (values.out) {
    await writeJsonAtomic(values.out, {
      date: new Date().toISOString(),
      versions: { deno: Deno.version.deno, v8: Deno.version.v8 },
      loadAvg: (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ").slice(0, 3),
      rows,
    });
    console.log(`wrote ${values.out}`);
  }
}
