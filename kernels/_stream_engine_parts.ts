/**
 * Pieces of the WASM stream engine (kernels/stream_engine.ts): its erf, its allocator of kernel
 * memory and the records of the parameters and caches it lays out there.
 *
 * @module
 */

/** The epsilon of the causal spike norm and layer norm (as lib/snn/spike_norm.ts). */
export const NORM_EPS = 1e-5;

/** erf with absolute error below 1.5e-7 (Abramowitz & Stegun 7.1.26). */
export function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t * Math.exp(-a * a);
  return s * y;
}

/** Bump allocator of 16-byte-aligned float buffers above `__heap_base`, grown once. */
export class Layout {
  next: number;
  constructor(base: number) {
    this.next = (base + 15) & ~15;
  }
  /** Reserve `n` floats; returns the byte pointer. */
  alloc(n: number): number {
    const p = this.next;
    this.next = p + ((Math.max(1, n) * 4 + 15) & ~15);
    return p;
  }
}

/** A record of the engine (see kernels/stream_engine.ts). */
export interface Lin {
  w: number;
  b: number;
  inDim: number;
  outDim: number;
}
/** A record of the engine (see kernels/stream_engine.ts). */
export interface Norm {
  g: Float32Array;
  b: Float32Array;
}
/** A record of the engine (see kernels/stream_engine.ts). */
export interface Site {
  p: Norm;
  sum: Float32Array;
  sumSq: Float32Array;
}
/** A record of the engine (see kernels/stream_engine.ts). */
export interface Layer {
  qkv?: Lin;
  qTaps?: number[];
  kTaps?: number[];
  qBias?: Float32Array;
  kBias?: Float32Array;
  v?: Lin;
  o: Lin;
  ff1: Lin;
  ff2: Lin;
  ln1?: Norm;
  ln2?: Norm;
  sites: Record<string, Site>;
  /** Convolution input window, tap-major `[convK − 1][R][D]` (pointer). */
  conv: number;
  /** Keys and values of every bin, `[R][H][total][d]`. */
  kCache: Float32Array;
  vCache: Float32Array;
  timTaps?: number[];
  timBias?: Float32Array;
  /** TIM input windows `[T − 1][timK − 1][B·H][d]` (pointer). */
  tim: number;
  rsm?: { q: Float32Array; k: Float32Array; att: Float32Array };
}
