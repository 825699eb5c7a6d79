/**
 * The WASM streaming engine: bin-by-bin inference of a causal hybrid model with no TF.js op in
 * the loop, for real-time decoding.
 *
 * `streamEngine(model, params, { mode, batch })` copies the parameter tree once into the memory
 * of its own instance of the hest kernels (`hest_kernels.wasm`) and runs each bin there: the
 * products with weights are the `matvec` kernel (SIMD over output columns; zero inputs skipped,
 * so spike inputs are event-driven accumulation), everything else (norms, LIF along the SNN
 * timesteps, TIM, attention over the key/value cache, GELU) is plain typed-array code over one
 * bin. It computes what {@linkcode streamer} (lib/infer/stream.ts) computes, op for op and in the same
 * order of the terms it controls, so bin l's output equals row l of the full causal forward up to
 * float32 rounding (the tests compare it with `streamer` and with `model.apply`). The caches
 * (keys and values of every bin so far, the convolution and TIM input windows, the running sums
 * of the causal spike norm) are preallocated for the model's `bins + forwardBins` positions, so a
 * step allocates nothing.
 *
 * The state lives in the engine (`reset()` starts a new stream): unlike `streamer`, a stream cannot
 * be branched. It needs the same things `streamer` needs (a causal model; in spiking mode
 * `norm: "causal"`, `encoding: "repeat"` and random or no spike masking), and reads data
 * synchronously, so the parameters must be readable with `dataSync` (wasm and cpu backends).
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import type { Key } from "../lib/core/random.ts";
import { describe } from "../lib/core/validation.ts";
import type { HybridModel } from "../lib/model/hybrid.ts";
import type { ResolvedHybridConfig } from "../lib/model/config.ts";
import type { Mode } from "../lib/nn/types.ts";
import { resolveLifOptions } from "../lib/snn/neurons.ts";
import { resolveStreamArgs, streamTables } from "../lib/infer/stream_setup.ts";
import type { Params } from "../lib/core/tree.ts";
import { type KernelExports, newKernelInstance } from "./wasm.ts";
import {
  erf,
  type Layer,
  Layout,
  type Lin,
  type Norm,
  NORM_EPS,
  type Site,
} from "./_stream_engine_parts.ts";

/** Options of {@linkcode streamEngine}. */
export interface StreamEngineOptions {
  /** Mode to stream (default: the model's first mode). */
  mode?: Mode;
  /** Trials streamed side by side, a positive integer (default 1). */
  batch?: number;
  /**
   * The key the full forward would be given: random spike masks are drawn from it exactly as
   * there (default `key(0)`, as `predict`'s default).
   */
  key?: Key;
}

/** A running stream of one model and parameter tree, made by {@linkcode streamEngine}. */
export interface StreamEngine {
  /** The model's resolved configuration. */
  readonly config: ResolvedHybridConfig;
  /** The mode streamed. */
  readonly mode: Mode;
  /** Trials per step. */
  readonly batch: number;
  /** Bins a stream can take: `bins + forwardBins`. */
  readonly length: number;
  /** Bins consumed since the last reset: the index of the next bin. */
  readonly bin: number;
  /** Bytes of kernel memory the engine holds (parameters, caches and scratch). */
  readonly memoryBytes: number;
  /**
   * Feed the held-in counts of the next bin (`batch × nInputs` numbers, row-major) and get that
   * bin's log-rates, `batch × nOutputs` numbers (a fresh array the caller owns).
   */
  step(counts: ArrayLike<number>): Float32Array;
  /** Start a new stream at bin 0 (empty caches). */
  reset(): void;
}

/**
 * Build a WASM streaming engine for a causal hybrid model (see the module documentation).
 * Throws, saying why, when the model or mode cannot stream.
 *
 * @example
 * ```ts
 * import { hybridTransformer, key, streamEngine } from "@hest/hest";
 * const model = hybridTransformer({ nInputs: 3, nOutputs: 4, bins: 10, causal: true });
 * const engine = streamEngine(model, model.init(key(0)), { mode: "standard" });
 * for (let l = 0; l < 10; l++) {
 *   const logRates = engine.step([1, 0, 2]); // Float32Array(4): this bin's log-rates
 * }
 * engine.reset(); // a new stream
 * ```
 */
export function streamEngine(
  model: HybridModel,
  params: Params,
  opts: StreamEngineOptions = {},
): StreamEngine {
  const { config: c, mode, batch: B, key: fwdKey } = resolveStreamArgs("streamEngine", model, opts);
  if (mode === "spiking" && c.residual === "plain") {
    throw new RangeError(
      'streamEngine does not implement the "plain" spiking residual (SEW and membrane only); ' +
        "stream this model with streamer (lib/infer/stream.ts)",
    );
  }

  const spiking = mode === "spiking";
  const total = c.bins + c.forwardBins;
  const D = c.dModel;
  const H = c.nHeads;
  const d = D / H;
  const T = spiking ? c.timesteps : 1;
  const R = T * B; // rows of every activation: [T, B] flattened (T = 1 in standard mode)
  const F = c.dFF;
  const membrane = c.residual === "membrane";
  const convK = c.attention === "conv" ? c.convKernel : 0;
  const timK = spiking && c.tim ? c.tim.kernel : 0;
  let back = Infinity;
  if (c.localWindow) back = Math.min(back, Math.floor(c.localWindow / 2));
  if (c.context) back = Math.min(back, c.context.backward);
  const cpgConcat = c.cpg && c.cpg.fusion === "concat" ? c.cpg.dims : 0;
  const nIn = c.nInputs + cpgConcat;

  // --- parameters and tables, read once -----------------------------------------------------
  const tensorAt = (path: string): tf.Tensor => {
    let node: unknown = params;
    for (const part of path.split(".")) node = (node as Params | undefined)?.[part];
    if (!(node instanceof tf.Tensor)) {
      throw new Error(
        `streamEngine params must hold "${path}" (the tree of model.init), found ${describe(node)}`,
      );
    }
    return node;
  };
  const read = (path: string): Float32Array => tensorAt(path).dataSync() as Float32Array;
  tensorAt("embed.w");
  if (c.position === "learned") tensorAt("pos");
  const tables = streamTables(c, params, { mode, batch: B, key: fwdKey });
  const pos = tables.pos.dataSync() as Float32Array;
  const cpg = tables.cpg?.dataSync() as Float32Array | undefined;
  const masks = tables.rsm.map((m) =>
    m.q ? { q: m.q.dataSync(), k: m.k!.dataSync(), att: m.att!.dataSync() } : undefined
  ) as ({ q: Float32Array; k: Float32Array; att: Float32Array } | undefined)[];
  tables.dispose();

  // --- memory layout ------------------------------------------------------------------------
  const ex: KernelExports = newKernelInstance();
  const lay = new Layout(ex.__heap_base.value as number);
  const weightCopies: [number, Float32Array][] = [];
  const putWeights = (data: Float32Array): number => {
    const p = lay.alloc(data.length);
    weightCopies.push([p, data]);
    return p;
  };
  const lin = (path: string): Lin => {
    const w = tensorAt(`${path}.w`);
    const [inDim, outDim] = w.shape;
    return { w: putWeights(read(`${path}.w`)), b: putWeights(read(`${path}.b`)), inDim, outDim };
  };
  const norm = (path: string): Norm => ({ g: read(`${path}.g`), b: read(`${path}.b`) });
  const taps = (path: string): number[] => {
    const w = tensorAt(`${path}.w`); // [k, cIn, cOut]
    const [k, cIn, cOut] = w.shape;
    const base = putWeights(read(`${path}.w`));
    return Array.from({ length: k }, (_, j) => base + j * cIn * cOut * 4);
  };

  const embed = lin("embed");
  const readout = lin("readout");
  const lnFinal = norm("lnFinal");
  const snEmbed = spiking && !membrane ? norm("snEmbed") : undefined;
  const siteOf = (p: Norm, ch: number): Site => ({
    p,
    sum: new Float32Array(B * ch),
    sumSq: new Float32Array(B * ch),
  });
  const embedSite = snEmbed ? siteOf(snEmbed, D) : undefined;
  const layers: Layer[] = [];
  for (let i = 0; i < c.nLayers; i++) {
    const pre = `blocks.${i}`;
    const layer: Layer = {
      o: lin(`${pre}.attn.o`),
      ff1: lin(`${pre}.ff1`),
      ff2: lin(`${pre}.ff2`),
      sites: {},
      conv: 0,
      kCache: new Float32Array(0),
      vCache: new Float32Array(0),
      tim: 0,
      rsm: masks[i],
    };
    if (c.attention === "conv") {
      layer.qTaps = taps(`${pre}.attn.qConv`);
      layer.kTaps = taps(`${pre}.attn.kConv`);
      layer.qBias = read(`${pre}.attn.qConv.b`);
      layer.kBias = read(`${pre}.attn.kConv.b`);
      layer.v = lin(`${pre}.attn.v`);
    } else {
      layer.qkv = lin(`${pre}.attn.qkv`);
    }
    if (spiking) {
      for (const n of ["q", "k", "v", "attn", "o", "ff1", "ff2"]) {
        layer.sites[n] = siteOf(norm(`${pre}.sn.${n}`), n === "ff1" ? F : D);
      }
      if (c.tim) {
        layer.timTaps = taps(`${pre}.tim`);
        layer.timBias = read(`${pre}.tim.b`);
      }
    } else {
      layer.ln1 = norm(`${pre}.ln1`);
      layer.ln2 = norm(`${pre}.ln2`);
    }
    layers.push(layer);
  }
  // activations and caches in kernel memory (pointers now, views after the memory has grown)
  const pIn = lay.alloc(B * nIn);
  const pE = lay.alloc(B * D);
  const pX = lay.alloc(R * D); // the stream
  const pS = lay.alloc(R * D); // block input (spikes in spiking mode, the norm in standard)
  const pQ = lay.alloc(R * D);
  const pK = lay.alloc(R * D);
  const pV = lay.alloc(R * D);
  const pO = lay.alloc(R * D);
  const pA = lay.alloc(R * D);
  const pTmp = lay.alloc(R * D);
  const pH = lay.alloc(R * F);
  const pQkv = lay.alloc(c.attention === "conv" ? 1 : R * 3 * D);
  const pY = lay.alloc(B * D);
  const pOut = lay.alloc(B * c.nOutputs);
  const pTim = lay.alloc(B * D);
  // matvec's scratch: the nonzero indices and values of one input row
  const pNz = lay.alloc(2 * Math.max(nIn, D, F));
  for (const layer of layers) {
    if (convK > 1) layer.conv = lay.alloc((convK - 1) * R * D);
    if (timK > 1 && T > 1) layer.tim = lay.alloc((T - 1) * (timK - 1) * B * D);
  }
  const needed = lay.next - ex.memory.buffer.byteLength;
  if (needed > 0) ex.memory.grow(Math.ceil(needed / 65536));
  const buf = ex.memory.buffer;
  const f32 = (p: number, n: number) => new Float32Array(buf, p, n);
  for (const [p, data] of weightCopies) f32(p, data.length).set(data);
  weightCopies.length = 0;
  const xin = f32(pIn, B * nIn);
  const e = f32(pE, B * D);
  const x = f32(pX, R * D);
  const s = f32(pS, R * D);
  const q = f32(pQ, R * D);
  const k = f32(pK, R * D);
  const v = f32(pV, R * D);
  const o = f32(pO, R * D);
  const a = f32(pA, R * D);
  const tmp = f32(pTmp, R * D);
  const hF = f32(pH, R * F);
  const qkvBuf = f32(pQkv, c.attention === "conv" ? 1 : R * 3 * D);
  const y = f32(pY, B * D);
  const out = f32(pOut, B * c.nOutputs);
  const timBuf = f32(pTim, B * D);
  for (const layer of layers) {
    layer.kCache = new Float32Array(R * H * total * d);
    layer.vCache = new Float32Array(R * H * total * d);
  }
  const convWin = layers.map((l) => (convK > 1 ? f32(l.conv, (convK - 1) * R * D) : undefined));
  const timWin = layers.map((l) =>
    timK > 1 && T > 1 ? f32(l.tim, (T - 1) * (timK - 1) * B * D) : undefined
  );
  const scores = new Float32Array(total);
  const qIdx = new Int32Array(d); // nonzero channels of one query head
  const acc = new Float64Array(d); // one head's attention output, summed in float64 as before
  const vIn = new Float32Array(B * D); // TIM membranes
  const vOut = new Float32Array(B * D);

  // --- ops over one bin ---------------------------------------------------------------------
  const matvec = (xp: number, l: Lin, yp: number, rows: number) =>
    ex.matvec(xp, l.w, l.b, yp, rows, l.inDim, l.outDim, pNz);

  /** LayerNorm over the last axis of `rows × n` values in place of `dst`. */
  function layerNorm(p: Norm, src: Float32Array, dst: Float32Array, rows: number, n: number) {
    for (let r = 0; r < rows; r++) {
      const o0 = r * n;
      let mean = 0;
      for (let j = 0; j < n; j++) mean += src[o0 + j];
      mean = Math.fround(mean / n);
      let variance = 0;
      for (let j = 0; j < n; j++) {
        const z = src[o0 + j] - mean;
        variance += z * z;
      }
      const inv = 1 / Math.sqrt(Math.fround(variance / n) + NORM_EPS);
      for (let j = 0; j < n; j++) dst[o0 + j] = (src[o0 + j] - mean) * inv * p.g[j] + p.b[j];
    }
  }

  /** Causal spike norm of `buf [T, B, C]` in place, updating the site's running sums. */
  function spikeNorm(site: Site, arr: Float32Array, ch: number, l: number) {
    const n = T * (l + 1);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < ch; j++) {
        let sx = 0;
        let sxx = 0;
        for (let t = 0; t < T; t++) {
          const val = arr[(t * B + b) * ch + j];
          sx += val;
          sxx += Math.fround(val * val);
        }
        const idx = b * ch + j;
        const sum = (site.sum[idx] = site.sum[idx] + Math.fround(sx));
        const sumSq = (site.sumSq[idx] = site.sumSq[idx] + Math.fround(sxx));
        const mean = Math.fround(sum / n);
        const variance = Math.max(0, Math.fround(sumSq / n) - Math.fround(mean * mean));
        const inv = 1 / Math.sqrt(variance + NORM_EPS);
        const g = site.p.g[j];
        const bb = site.p.b[j];
        for (let t = 0; t < T; t++) {
          const at = (t * B + b) * ch + j;
          arr[at] = (arr[at] - mean) * inv * g + bb;
        }
      }
    }
  }

  const lifR = resolveLifOptions(c.lif);
  if (lifR.v0 !== undefined) {
    throw new Error(`streamEngine cannot stream a model whose LIF has an initial membrane "v0"`);
  }
  if (lifR.levels !== 1) {
    throw new Error(
      `streamEngine streams binary spikes (event-driven products); this model's LIF has ` +
        `lif.levels ${lifR.levels}: stream it with the model's own forward (forwardBin)`,
    );
  }
  const lifK = 1 / lifR.tau;
  const lifSoft = lifR.vReset === null;
  const lifVr = lifR.vReset ?? 0;
  const lifDecay = lifR.decayInput;
  /** Multi-step LIF along T of `src [T, n]` (membrane from rest) into `dst` (may alias). */
  function lif(src: Float32Array, dst: Float32Array, n: number, vth: number) {
    for (let j = 0; j < n; j++) {
      let vm = lifVr;
      for (let t = 0; t < T; t++) {
        const at = t * n + j;
        const leak = lifVr === 0 ? vm * (1 - lifK) : vm - (vm - lifVr) * lifK;
        const hh = Math.fround(leak + (lifDecay ? src[at] * lifK : src[at]));
        const sp = hh - vth >= 0 ? 1 : 0;
        vm = lifSoft ? hh - sp * vth : hh * (1 - sp) + sp * lifVr;
        dst[at] = sp;
      }
    }
  }

  /** Q and K of the current bin by the causal convolution over the window; V by its linear. */
  function project(layer: Layer, win: Float32Array | undefined, inPtr: number) {
    if (!layer.qTaps) {
      // one product [R, 3D], split into q, k, v
      matvec(inPtr, layer.qkv!, pQkv, R);
      for (let r = 0; r < R; r++) {
        q.set(qkvBuf.subarray(r * 3 * D, r * 3 * D + D), r * D);
        k.set(qkvBuf.subarray(r * 3 * D + D, r * 3 * D + 2 * D), r * D);
        v.set(qkvBuf.subarray(r * 3 * D + 2 * D, r * 3 * D + 3 * D), r * D);
      }
      return;
    }
    convLast(layer.qTaps, layer.qBias!, layer.conv, inPtr, pQ, q, R, D, D);
    convLast(layer.kTaps!, layer.kBias!, layer.conv, inPtr, pK, k, R, D, D);
    matvec(inPtr, layer.v!, pV, R);
    if (win) {
      // slide: drop the oldest tap, append the current input
      win.copyWithin(0, R * D);
      win.set(s, (convK - 2) * R * D); // the block input (inPtr is always pS)
    }
  }

  /** Σ_j window[j] · tap[j] + bias for a tap-major window `[k − 1][rows][cIn]` plus `cur`. */
  function convLast(
    tapPtrs: number[],
    bias: Float32Array,
    winPtr: number,
    curPtr: number,
    outPtr: number,
    outArr: Float32Array,
    rows: number,
    cIn: number,
    cOut: number,
  ) {
    const kk = tapPtrs.length;
    for (let j = 0; j < kk; j++) {
      const src = j === kk - 1 ? curPtr : winPtr + j * rows * cIn * 4;
      // tap 0 straight into the output, the others through `a` (free until the attention)
      ex.matvec(src, tapPtrs[j], 0, j === 0 ? outPtr : pA, rows, cIn, cOut, pNz);
      if (j > 0) { for (let z = 0; z < rows * cOut; z++) outArr[z] += a[z]; }
    }
    for (let r = 0; r < rows; r++) {
      for (let z = 0; z < cOut; z++) outArr[r * cOut + z] += bias[z];
    }
  }

  /** TIM for the current bin on q `[T, B·H, d]` (see lib/stream.ts `timStep`). */
  function tim(layer: Layer, win: Float32Array | undefined) {
    const tc = c.tim as Exclude<ResolvedHybridConfig["tim"], false>;
    const kk = 1 / 2;
    const n = B * D;
    vIn.fill(0);
    vOut.fill(0);
    const rows = B * H;
    const taps = layer.timTaps!;
    const per = (timK - 1) * n; // floats of one timestep's window
    for (let t = 1; t < T; t++) {
      const prevPtr = pQ + (t - 1) * n * 4; // Q̃[t − 1], already final
      // conv over the window of Q̃[t − 1] (older bins in win) and the current Q̃[t − 1]
      const acc = timBuf;
      for (let j = 0; j < timK; j++) {
        const src = j === timK - 1 ? prevPtr : layer.tim + ((t - 1) * per + j * n) * 4;
        ex.matvec(src, taps[j], 0, j === 0 ? pTim : pTmp, rows, d, d, pNz);
        if (j > 0) { for (let z = 0; z < n; z++) acc[z] += tmp[z]; }
      }
      if (win) {
        const w = win.subarray((t - 1) * per, t * per);
        w.copyWithin(0, n);
        w.set(q.subarray((t - 1) * n, t * n), (timK - 2) * n);
      }
      for (let z = 0; z < n; z++) {
        const conv = acc[z] + layer.timBias![z % d];
        const hIn = Math.fround(vIn[z] * (1 - kk) + conv * kk);
        const sIn = hIn - tc.inThreshold >= 0 ? 1 : 0;
        vIn[z] = hIn * (1 - sIn);
        const m = Math.fround(sIn * tc.alpha + q[t * n + z] * (1 - tc.alpha));
        const hOut = Math.fround(vOut[z] * (1 - kk) + m * kk);
        const sOut = hOut - tc.outThreshold >= 0 ? 1 : 0;
        vOut[z] = hOut * (1 - sOut);
        q[t * n + z] = sOut;
      }
    }
  }

  /** Attention of the current bin over the cache (keys and values already appended). */
  function attend(layer: Layer, l: number, dst: Float32Array) {
    const lo = Math.max(0, l - back);
    const scale = spiking ? c.ssaScale : 1 / Math.sqrt(d);
    for (let r = 0; r < R; r++) {
      const t = Math.floor(r / B);
      const b = r % B;
      for (let h = 0; h < H; h++) {
        const qo = r * D + h * d;
        const base = (r * H + h) * total * d;
        // the query's nonzero channels (spiking mode: its spikes), so the dot products skip zeros
        let nq = 0;
        for (let z = 0; z < d; z++) if (q[qo + z] !== 0) qIdx[nq++] = z;
        let max = -Infinity;
        for (let j = lo; j <= l; j++) {
          let dot = 0;
          const ko = base + j * d;
          for (let m = 0; m < nq; m++) dot += q[qo + qIdx[m]] * layer.kCache[ko + qIdx[m]];
          let sc = Math.fround(Math.fround(dot) * scale);
          if (spiking && layer.rsm) {
            sc *= layer.rsm.att[(((t * B + b) * H + h) * total + l) * total + j];
          }
          scores[j] = sc;
          if (sc > max) max = sc;
        }
        if (!spiking) {
          let sum = 0;
          for (let j = lo; j <= l; j++) {
            const ez = Math.fround(Math.exp(scores[j] - max));
            scores[j] = ez;
            sum += ez;
          }
          for (let j = lo; j <= l; j++) scores[j] = scores[j] / sum;
        }
        // Σ_j score_j · v_j, keys with a zero score skipped (most of them in spiking mode)
        acc.fill(0);
        for (let j = lo; j <= l; j++) {
          const sj = scores[j];
          if (sj === 0) continue;
          const vo = base + j * d;
          for (let z = 0; z < d; z++) acc[z] += sj * layer.vCache[vo + z];
        }
        for (let z = 0; z < d; z++) dst[qo + z] = acc[z];
      }
    }
  }

  /** Append this bin's k and v `[R, D]` to the cache at position l. */
  function appendKv(layer: Layer, l: number) {
    for (let r = 0; r < R; r++) {
      for (let h = 0; h < H; h++) {
        const at = ((r * H + h) * total + l) * d;
        layer.kCache.set(k.subarray(r * D + h * d, r * D + h * d + d), at);
        layer.vCache.set(v.subarray(r * D + h * d, r * D + h * d + d), at);
      }
    }
  }

  /** Multiply `arr [T, B, H, d]` by row l of a `[T, B, H, total, d]` mask. */
  function maskRow(arr: Float32Array, mask: Float32Array, l: number) {
    for (let r = 0; r < R; r++) {
      for (let h = 0; h < H; h++) {
        const mo = ((r * H + h) * total + l) * d;
        const ao = r * D + h * d;
        for (let z = 0; z < d; z++) arr[ao + z] *= mask[mo + z];
      }
    }
  }

  function sew(xs: Float32Array, sp: Float32Array) {
    const m = c.residual;
    for (let z = 0; z < R * D; z++) {
      // SEW with the stream xs as the shortcut S and sp as the branch A (lib/spike_ops.ts)
      xs[z] = m === "add" ? sp[z] + xs[z] : m === "and" ? sp[z] * xs[z] : (1 - sp[z]) * xs[z];
    }
  }

  let bin = 0;
  function reset() {
    bin = 0;
    for (const layer of layers) {
      for (const site of Object.values(layer.sites)) {
        site.sum.fill(0);
        site.sumSq.fill(0);
      }
    }
    if (embedSite) {
      embedSite.sum.fill(0);
      embedSite.sumSq.fill(0);
    }
    for (const w of convWin) w?.fill(0);
    for (const w of timWin) w?.fill(0);
  }
  reset();

  function step(counts: ArrayLike<number>): Float32Array {
    if (counts === null || typeof counts !== "object" || typeof counts.length !== "number") {
      throw new Error(
        `stream engine step counts must be ${B * c.nInputs} numbers, found ${describe(counts)}`,
      );
    }
    if (counts.length !== B * c.nInputs) {
      throw new Error(
        `stream engine step counts must hold batch × nInputs = ${B} × ${c.nInputs} = ` +
          `${B * c.nInputs} numbers, found ${counts.length}`,
      );
    }
    const l = bin;
    if (l >= total) {
      throw new Error(
        `stream engine: the stream has consumed all ${total} bins (bins ${c.bins} + forward ` +
          `${c.forwardBins}) the model's positions cover; call reset() to start a new one`,
      );
    }
    // embedding of bin l
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < c.nInputs; j++) {
        const val = Number(counts[b * c.nInputs + j]);
        if (!Number.isFinite(val)) {
          throw new Error(
            `stream engine step counts must be finite numbers, found ${val} at index ` +
              `${b * c.nInputs + j}`,
          );
        }
        xin[b * nIn + j] = c.inputTransform === "log1p" ? Math.log1p(val) : val;
      }
      for (let j = 0; j < cpgConcat; j++) xin[b * nIn + c.nInputs + j] = cpg![l * cpgConcat + j];
    }
    matvec(pIn, embed, pE, B);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < D; j++) {
        let val = e[b * D + j] + pos[l * D + j];
        if (c.cpg && c.cpg.fusion === "add") val = Math.fround(val) + cpg![l * D + j];
        e[b * D + j] = val;
      }
    }
    for (let t = 0; t < T; t++) x.set(e, t * B * D);
    if (spiking) {
      if (embedSite) {
        spikeNorm(embedSite, x, D, l);
        lif(x, x, B * D, lifR.vThreshold);
      }
      for (let i = 0; i < layers.length; i++) {
        const layer = layers[i];
        const st = layer.sites;
        if (membrane) lif(x, s, B * D, lifR.vThreshold);
        else s.set(x);
        project(layer, convWin[i], pS);
        spikeNorm(st.q, q, D, l);
        lif(q, q, B * D, lifR.vThreshold);
        spikeNorm(st.k, k, D, l);
        lif(k, k, B * D, lifR.vThreshold);
        spikeNorm(st.v, v, D, l);
        lif(v, v, B * D, lifR.vThreshold);
        if (c.tim) tim(layer, timWin[i]);
        if (layer.rsm) {
          maskRow(q, layer.rsm.q, l);
          maskRow(k, layer.rsm.k, l);
        }
        appendKv(layer, l);
        attend(layer, l, o);
        spikeNorm(st.attn, o, D, l);
        lif(o, o, B * D, c.attnThreshold);
        matvec(pO, layer.o, pA, R);
        spikeNorm(st.o, a, D, l);
        if (membrane) {
          for (let z = 0; z < R * D; z++) x[z] += a[z];
          lif(x, s, B * D, lifR.vThreshold);
          matvec(pS, layer.ff1, pH, R);
          spikeNorm(st.ff1, hF, F, l);
          lif(hF, hF, B * F, lifR.vThreshold);
          matvec(pH, layer.ff2, pA, R);
          spikeNorm(st.ff2, a, D, l);
          for (let z = 0; z < R * D; z++) x[z] += a[z];
        } else {
          lif(a, a, B * D, lifR.vThreshold);
          sew(x, a);
          matvec(pX, layer.ff1, pH, R);
          spikeNorm(st.ff1, hF, F, l);
          lif(hF, hF, B * F, lifR.vThreshold);
          matvec(pH, layer.ff2, pA, R);
          spikeNorm(st.ff2, a, D, l);
          lif(a, a, B * D, lifR.vThreshold);
          sew(x, a);
        }
      }
      // mean over T
      for (let z = 0; z < B * D; z++) {
        let acc = 0;
        for (let t = 0; t < T; t++) acc += x[t * B * D + z];
        y[z] = acc / T;
      }
    } else {
      for (let i = 0; i < layers.length; i++) {
        const layer = layers[i];
        layerNorm(layer.ln1!, x, s, B, D);
        project(layer, convWin[i], pS);
        appendKv(layer, l);
        attend(layer, l, o);
        matvec(pO, layer.o, pA, B);
        for (let z = 0; z < B * D; z++) x[z] += a[z];
        layerNorm(layer.ln2!, x, s, B, D);
        matvec(pS, layer.ff1, pH, B);
        for (let z = 0; z < B * F; z++) {
          const u = hF[z];
          hF[z] = u * 0.5 * (1 + erf(u * Math.SQRT1_2));
        }
        matvec(pH, layer.ff2, pA, B);
        for (let z = 0; z < B * D; z++) x[z] += a[z];
      }
      y.set(x.subarray(0, B * D));
    }
    layerNorm(lnFinal, y, y, B, D);
    matvec(pY, readout, pOut, B);
    bin = l + 1;
    return out.slice();
  }

  return {
    config: c,
    mode,
    batch: B,
    length: total,
    get bin() {
      return bin;
    },
    memoryBytes: lay.next,
    step,
    reset,
  };
}
