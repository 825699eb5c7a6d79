/**
 * Per-op profile of any TF.js computation on a synchronous backend (wasm, cpu): every kernel
 * TF.js dispatches and every call into the hest WASM kernels is timed with `performance.now`
 * while {@linkcode profileOps} runs, and the matrix products also count their floating-point
 * operations, so the table gives each product's GFLOP/s beside its time. `deno task bench
 * --profile` prints it for the reference configuration's train and inference steps.
 *
 * On these backends a kernel runs to completion before it returns, so wall time around the call
 * is its cost. Only the outermost kernel is timed when one kernel dispatches another (the inner
 * one's time is its parent's). The wrappers are installed for the duration of the call and then
 * removed: outside `profileOps` nothing is timed.
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import { type KernelExports, setKernelExportsWrapper } from "./wasm.ts";

/** The arguments TF.js passes a kernel function. */
type KernelArgs = Parameters<tf.KernelFunc>[0];

/** One op of a {@linkcode OpProfile}. */
export interface OpStat {
  /** TF.js kernel name (`BatchMatMul`, `Add`, …) or `hest.<export>[.<mode>]` for hest kernels. */
  name: string;
  /** Calls while profiling. */
  calls: number;
  /** Total wall milliseconds. */
  ms: number;
  /** Floating-point operations (a multiply-add counts 2), products only; else 0. */
  flops: number;
}

/** What {@linkcode profileOps} measured. */
export interface OpProfile {
  /** The ops, most time first. */
  ops: OpStat[];
  /** Wall milliseconds of the whole profiled call. */
  totalMs: number;
  /** Milliseconds spent inside timed ops (the rest is JavaScript between them). */
  opsMs: number;
}

/** Options of {@linkcode profileOps}. */
export interface ProfileOptions {
  /** Key TF.js kernels by name and input shapes (`Sum[3200,128]`), not name alone. */
  byShape?: boolean;
}

/** Result and profile of {@linkcode profileOps}. */
export interface Profiled<T> {
  /** What the profiled function returned. */
  result: T;
  /** Its per-op profile. */
  profile: OpProfile;
}

type Recorder = (name: string, ms: number, flops: number) => void;

function product(shapeA: number[], shapeB: number[], tA: boolean, tB: boolean): number {
  const r = shapeA.length;
  let batch = 1;
  for (let i = 0; i < r - 2; i++) batch *= Math.max(shapeA[i], shapeB[i] ?? 1);
  const M = tA ? shapeA[r - 1] : shapeA[r - 2];
  const K = tA ? shapeA[r - 2] : shapeA[r - 1];
  const N = tB ? shapeB[shapeB.length - 2] : shapeB[shapeB.length - 1];
  return 2 * batch * M * N * K;
}

/** FLOPs of a TF.js kernel call (products only). */
function tfFlops(name: string, args: KernelArgs): number {
  if (name !== "BatchMatMul" && name !== "_FusedMatMul") return 0;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const at = args.attrs as { transposeA?: boolean; transposeB?: boolean };
  return product(a.shape, b.shape, at.transposeA ?? false, at.transposeB ?? false);
}

const BMM_MODES = ["dense", "binaryA", "binaryB"];

/** Name and FLOPs of a call into a hest kernel export (products count their FLOPs). */
function hestOp(name: string, a: number[], byShape: boolean): [string, number] {
  // with byShape, products are keyed by their dimensions too, e.g. `hest.bmm.dense[8x100x100x32]`
  const dims = (...d: number[]): string => byShape ? `[${d.join("x")}]` : "";
  switch (name) {
    case "bmm": // (a, b, c, batch, M, N, K, tA, tB, mode, scratch)
      return [
        `hest.bmm.${BMM_MODES[a[9]] ?? a[9]}${dims(a[3], a[4], a[5], a[6])}`,
        2 * a[3] * a[4] * a[5] * a[6],
      ];
    case "linear_forward": // (X, W, bias, Y, M, N, K, mode, scratch)
      return [
        `hest.linear_forward.${a[7] === 1 ? "binary" : "dense"}${dims(a[4], a[5], a[6])}`,
        2 * a[4] * a[5] * a[6],
      ];
    case "gemm_tn": // (X, D, C, R, I, J, ldx, ldd, binary, scratch)
      return [
        `hest.gemm_tn.${a[8] === 1 ? "binary" : "dense"}${dims(a[3], a[4], a[5])}`,
        2 * a[3] * a[4] * a[5],
      ];
    default:
      return [`hest.${name}`, 0];
  }
}

function wrapExports(ex: KernelExports, record: Recorder, byShape: boolean): KernelExports {
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(ex)) {
    if (typeof v !== "function" || name.endsWith("_scratch_floats")) {
      out[name] = v;
      continue;
    }
    const fn = v as (...a: number[]) => unknown;
    out[name] = function (...a: number[]): unknown {
      const t0 = performance.now();
      const r = fn(...a);
      const [label, flops] = hestOp(name, a, byShape);
      record(label, performance.now() - t0, flops);
      return r;
    };
  }
  return out as unknown as KernelExports;
}

/**
 * Run `f` with every TF.js kernel of the active backend and every hest kernel call timed;
 * returns `f`'s result and the per-op table. Works on backends whose kernels are synchronous
 * (wasm, cpu); `f` may be async (its awaited time counts in `totalMs` but not in any op).
 *
 * @example
 * ```ts
 * import { profileOps, tf } from "@hest/hest";
 * const a = tf.randomNormal([64, 64]);
 * const { profile } = await profileOps(() => tf.tidy(() => tf.matMul(a, a).dataSync()));
 * profile.ops[0].name; // "BatchMatMul"
 * ```
 */
export async function profileOps<T>(
  f: () => T | Promise<T>,
  opts: ProfileOptions = {},
): Promise<Profiled<T>> {
  const stats = new Map<string, OpStat>();
  const record: Recorder = (name, ms, flops) => {
    const s = stats.get(name) ?? { name, calls: 0, ms: 0, flops: 0 };
    s.calls++;
    s.ms += ms;
    s.flops += flops;
    stats.set(name, s);
  };
  const backend = tf.getBackend();
  const originals = tf.getKernelsForBackend(backend);
  let depth = 0;
  for (const k of originals) {
    const inner = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel({
      ...k,
      kernelFunc(args: KernelArgs) {
        if (depth > 0) return inner(args);
        depth++;
        const t0 = performance.now();
        try {
          return inner(args);
        } finally {
          depth--;
          const name = opts.byShape
            ? `${k.kernelName}${
              Object.values(args.inputs).map((t) => `[${(t as tf.TensorInfo).shape}]`).join("")
            }`
            : k.kernelName;
          record(name, performance.now() - t0, tfFlops(k.kernelName, args));
        }
      },
    } as tf.KernelConfig);
  }
  setKernelExportsWrapper((ex) => wrapExports(ex, record, opts.byShape ?? false));
  const t0 = performance.now();
  try {
    const result = await f();
    const totalMs = performance.now() - t0;
    const ops = [...stats.values()].sort((a, b) => b.ms - a.ms);
    const opsMs = ops.reduce((s, o) => s + o.ms, 0);
    return { result, profile: { ops, totalMs, opsMs } };
  } finally {
    setKernelExportsWrapper(undefined);
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, backend);
      tf.registerKernel(k);
    }
  }
}

/**
 * The profile as a plain-text table: ms per call of `runs` calls, share of the total, and
 * GFLOP/s for products.
 *
 * @example
 * ```ts
 * import { formatProfile } from "@hest/hest";
 * formatProfile({ ops: [{ name: "Add", calls: 2, ms: 1, flops: 0 }], totalMs: 2, opsMs: 1 }, { runs: 1 });
 * ```
 */
export function formatProfile(p: OpProfile, opts: { runs?: number; top?: number } = {}): string {
  const runs = opts.runs ?? 1;
  const lines = [
    `${"op".padEnd(30)} ${"calls".padStart(6)} ${"ms/run".padStart(9)} ${"share".padStart(6)} ${
      "GFLOP/s".padStart(8)
    }`,
  ];
  for (const o of p.ops.slice(0, opts.top ?? p.ops.length)) {
    const gf = o.flops > 0 ? (o.flops / (o.ms * 1e6)).toFixed(1) : "";
    lines.push(
      `${o.name.padEnd(30)} ${String(o.calls / runs).padStart(6)} ${
        (o.ms / runs).toFixed(2).padStart(9)
      } ${(100 * o.ms / p.totalMs).toFixed(1).padStart(5)}% ${gf.padStart(8)}`,
    );
  }
  lines.push(
    `total ${(p.totalMs / runs).toFixed(1)} ms/run, in ops ${(p.opsMs / runs).toFixed(1)} ms/run`,
  );
  return lines.join("\n");
}
