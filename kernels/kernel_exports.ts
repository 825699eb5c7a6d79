/**
 * The types of `hest_kernels.wasm`'s exports: every kernel's arguments (pointers are byte offsets
 * into the memory the kernels run in), and the shared signatures of the norm kernels. The
 * instance that runs them comes from kernels/wasm.ts.
 *
 * @module
 */

/**
 * A spike-norm forward kernel (`spike_norm_forward`, `sample_norm_forward`): y = the norm of
 * x [T, B, L, C] with gain g and bias, timestep t starting ldt floats after t − 1; each trial's
 * moments go to mean and rstd. Pointers are byte offsets into `memory`.
 *
 * @example
 * ```ts
 * import { kernelExports, type NormForwardKernel } from "@hest/hest/kernels";
 * const forward: NormForwardKernel = kernelExports().sample_norm_forward;
 * ```
 */
export type NormForwardKernel = (
  x: number,
  g: number,
  bias: number,
  y: number,
  T: number,
  B: number,
  L: number,
  C: number,
  ldt: number,
  eps: number,
  mean: number,
  rstd: number,
) => void;

/**
 * Its backward (`spike_norm_backward`, `sample_norm_backward`): dx, dg and db from dy and the
 * forward's moments, with a scratch block.
 *
 * @example
 * ```ts
 * import { kernelExports, type NormBackwardKernel } from "@hest/hest/kernels";
 * const backward: NormBackwardKernel = kernelExports().sample_norm_backward;
 * ```
 */
export type NormBackwardKernel = (
  x: number,
  g: number,
  dy: number,
  dx: number,
  dg: number,
  db: number,
  T: number,
  B: number,
  L: number,
  C: number,
  ldt: number,
  mean: number,
  rstd: number,
  scratch: number,
) => void;

/**
 * The neuron constants every LIF kernel takes, in this order (`lifKernelArgs(...).neuron`): k =
 * 1/τ, 1 − k, the reset potential, the threshold, the spike levels of a soft reset (0: hard
 * reset), 1 for decay_input, and the leak form.
 *
 * @example
 * ```ts
 * import type { LifNeuronArgs } from "@hest/hest/kernels";
 * const binarySoftReset: LifNeuronArgs = [0.5, 0.5, 0, 1, 1, 1, 0];
 * ```
 */
export type LifNeuronArgs = [
  k: number,
  omk: number,
  vr: number,
  vth: number,
  soft: number,
  decay: number,
  leakMode: number,
];

/**
 * The surrogate arguments every LIF backward kernel takes after {@linkcode LifNeuronArgs}
 * (`lifKernelArgs(...).surrogate`): detachReset, detachMembrane, the surrogate's kind (0 sigmoid,
 * 1 atan) and its α.
 *
 * @example
 * ```ts
 * import type { LifSurrogateArgs } from "@hest/hest/kernels";
 * const sigmoid4: LifSurrogateArgs = [0, 0, 0, 4];
 * ```
 */
export type LifSurrogateArgs = [
  detachReset: number,
  detachMembrane: number,
  kind: number,
  alpha: number,
];

/**
 * A norm-then-LIF forward kernel (`spike_norm_lif_forward`, `sample_norm_lif_forward`; see
 * kernels/norm_lif.h): the spikes of x [T, B, L, C] into s, the trials' moments into mean and rstd,
 * with the LIF constants of `lifKernelArgs(...).neuron`. Pointers are byte offsets into `memory`.
 *
 * @example
 * ```ts
 * import { kernelExports, type NormLifForwardKernel } from "@hest/hest/kernels";
 * const forward: NormLifForwardKernel = kernelExports().sample_norm_lif_forward;
 * ```
 */
export type NormLifForwardKernel = (
  x: number,
  g: number,
  bias: number,
  s: number,
  T: number,
  B: number,
  L: number,
  C: number,
  ldt: number,
  eps: number,
  mean: number,
  rstd: number,
  v: number,
  ...lif: LifNeuronArgs
) => void;

/** The raw exports of `hest_kernels.wasm` (pointers are byte offsets into `memory`). */
export interface KernelExports {
  /** The instance's linear memory (TF.js's on the wasm backend). */
  memory: WebAssembly.Memory;
  /** The shadow-stack pointer (the stack grows down from it). */
  __stack_pointer: WebAssembly.Global;
  /** First free byte above the module's stack and data. */
  __heap_base: WebAssembly.Global;
  /** Fused multi-step LIF forward (see hest_kernels.c). */
  lif_forward(
    x: number,
    s: number,
    h: number,
    v: number,
    T: number,
    n: number,
    ...lif: LifNeuronArgs
  ): void;
  /** Fused multi-step LIF BPTT backward (see hest_kernels.c). */
  lif_backward(
    dy: number,
    h: number,
    dx: number,
    gv: number,
    T: number,
    n: number,
    ...lif: [...LifNeuronArgs, ...LifSurrogateArgs]
  ): void;
  /** Batched matrix product; returns the number of non-0/1 entries of a binary operand. */
  bmm(
    a: number,
    b: number,
    c: number,
    batch: number,
    M: number,
    N: number,
    K: number,
    transA: number,
    transB: number,
    mode: number,
    scratch: number,
  ): number;
  /** One fused TIM step forward (see hest_kernels.c). */
  tim_step_forward(
    c: number,
    q: number,
    vin: number,
    vout: number,
    out: number,
    n: number,
    k: number,
    omk: number,
    thIn: number,
    thOut: number,
    alpha: number,
    oma: number,
  ): void;
  /** Its surrogate backward (see hest_kernels.c). */
  tim_step_backward(
    c: number,
    q: number,
    vin: number,
    vout: number,
    ds: number,
    dc: number,
    dq: number,
    n: number,
    k: number,
    omk: number,
    thIn: number,
    thOut: number,
    alpha: number,
    oma: number,
    kind: number,
    salpha: number,
  ): void;
  /**
   * y = x · W + b row by row, zero inputs skipped (see hest_kernels.c; b = 0: no bias); scratch
   * of 2·inDim words.
   */
  matvec(
    x: number,
    w: number,
    b: number,
    y: number,
    rows: number,
    inDim: number,
    outDim: number,
    scratch: number,
  ): void;
  /** Spike norm then LIF (see kernels/norm_lif.h); writes μ and r to mean, rstd; v: C floats scratch. */
  spike_norm_lif_forward: NormLifForwardKernel;
  /** Its backward: dx, dg, db (see kernels/norm_lif.h); scratch 2·B·C + T·C + 2·C floats. */
  spike_norm_lif_backward(
    x: number,
    g: number,
    bias: number,
    ds: number,
    dx: number,
    dg: number,
    db: number,
    T: number,
    B: number,
    L: number,
    C: number,
    ldt: number,
    mean: number,
    rstd: number,
    scratch: number,
    ...lif: [...LifNeuronArgs, ...LifSurrogateArgs]
  ): void;
  /**
   * The per-trial norm over all channels with gain and bias (see kernels/norm_lif.h); writes
   * each trial's μ and r to mean, rstd (B floats each).
   */
  sample_norm_forward: NormForwardKernel;
  /** Its backward: dx, dg, db (see kernels/norm_lif.h); the whole array (ldt = B·L·C). */
  sample_norm_backward: NormBackwardKernel;
  /** Scratch floats `sample_norm_backward` needs. */
  sample_norm_backward_scratch_floats(B: number): number;
  /**
   * The per-trial norm over all channels, gain and bias, then LIF (see kernels/norm_lif.h);
   * writes each trial's μ and r to mean, rstd (B floats each); v: C floats scratch.
   */
  sample_norm_lif_forward: NormLifForwardKernel;
  /** Its backward over the whole array: dx, dg, db (see kernels/norm_lif.h). */
  sample_norm_lif_backward(
    x: number,
    g: number,
    bias: number,
    ds: number,
    dx: number,
    dg: number,
    db: number,
    T: number,
    B: number,
    L: number,
    C: number,
    mean: number,
    rstd: number,
    scratch: number,
    ...lif: [...LifNeuronArgs, ...LifSurrogateArgs]
  ): void;
  /** Scratch floats `sample_norm_lif_backward` needs. */
  sample_norm_lif_backward_scratch_floats(T: number, B: number, C: number): number;
  /** Dense layer y = x · w + bias, mode 0 or 1 (see hest_kernels.c); returns bad binary entries. */
  linear_forward(
    x: number,
    w: number,
    bias: number,
    y: number,
    M: number,
    N: number,
    K: number,
    mode: number,
    scratch: number,
  ): number;
  /** Scratch floats `linear_forward` needs. */
  linear_scratch_floats(M: number, N: number, K: number, mode: number): number;
  /** Scratch floats `bmm` needs. */
  bmm_scratch_floats(M: number, N: number, K: number, mode: number): number;
  /** Spike-norm forward (see hest_kernels.c); writes each trial's μ and r to mean, rstd. */
  spike_norm_forward: NormForwardKernel;
  /** Spike-norm backward: dx, dg, dbias from the forward's μ and r; scratch 2·B·C floats. */
  spike_norm_backward: NormBackwardKernel;
  /** `out[n] = Σ_m dy[m, n]` over `dy [M, N]`. */
  col_sum(dy: number, out: number, M: number, N: number): void;
  /** Bins-axis im2col of `x [S, L, Ci]` into `col [S·L, k·Ci]` (see hest_kernels.c). */
  im2col(x: number, col: number, S: number, L: number, Ci: number, k: number, pad: number): void;
  /** Adjoint of `im2col`: `dx [S, L, Ci]` from `col [S·L, k·Ci]`. */
  col2im(col: number, dx: number, S: number, L: number, Ci: number, k: number, pad: number): void;
  /** `C [I, J] = Xᵀ · D` for `X [R, I]`, `D [R, J]` (row strides ldx, ldd); sparse or binary X: event-driven. */
  gemm_tn(
    X: number,
    D: number,
    C: number,
    R: number,
    I: number,
    J: number,
    ldx: number,
    ldd: number,
    binary: number,
    scratch: number,
  ): number;
  /** Words of scratch `gemm_tn` needs for X [R, I] and D [R, J]. */
  gemm_tn_scratch_floats(R: number, I: number, J: number): number;
  /** The SIMD multiply-add peak loop: `n` steps of 64 flops (kernels/peak.ts). */
  simd_peak(n: number, s: number): number;
  /** Exact GELU of n floats (hest_kernels.c); keep (or 0) receives 1 + erf(x/√2). */
  gelu_forward(x: number, y: number, keep: number, n: number): void;
  /** Its gradient dx = dy · GELU'(x), from x and the forward's kept s. */
  gelu_backward(x: number, s: number, dy: number, dx: number, n: number): void;
  /**
   * `y = x · floor(u + keep) / keep` for n floats, u from seedrandom's alea in the state (s0, s1,
   * s2, c): tf.dropout's values (kernels/dropout.ts); mask (or 0) receives the multiplier.
   */
  dropout_alea(
    x: number,
    y: number,
    mask: number,
    n: number,
    s0: number,
    s1: number,
    s2: number,
    c: number,
    keep: number,
  ): void;
  /** Layer norm forward over rows of C (hest_kernels.c); stats [R, 2] = mean, 1/std. */
  layer_norm_forward(
    x: number,
    g: number,
    b: number,
    y: number,
    stats: number,
    R: number,
    C: number,
    eps: number,
  ): void;
  /** Its backward: dx, and dg, db summed over the rows. */
  layer_norm_backward(
    x: number,
    g: number,
    stats: number,
    dy: number,
    dx: number,
    dg: number,
    db: number,
    R: number,
    C: number,
  ): void;
  /** Softmax's backward over rows of C from the saved output y (hest_kernels.c). */
  softmax_backward(y: number, dy: number, dx: number, R: number, C: number): void;
  /** One AdamW step of n floats (hest_kernels.c; kernels/adamw.ts). */
  adamw_step(
    p: number,
    m: number,
    v: number,
    g: number,
    po: number,
    mo: number,
    vo: number,
    n: number,
    decay: number,
    keep: number,
    b1: number,
    omb1: number,
    b2: number,
    omb2: number,
    bc2: number,
    eps: number,
    step: number,
  ): void;
  /** 1 in the fast (relaxed-SIMD) build, 0 in the exact one. */
  kernels_fast(): number;
}
