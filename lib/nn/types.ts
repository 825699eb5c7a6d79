/**
 * Types every layer and model shares: the run mode, the per-call context and the collector that
 * receives the operations a forward pass performs (for energy accounting).
 *
 * @module
 */
import type { tf } from "../core/backend.ts";
import type { Key } from "../core/random.ts";

/** Run mode of a model: real-valued (`"standard"`) or multi-step LIF spiking (`"spiking"`). */
export type Mode = "standard" | "spiking";

/** Per-call context shared by every layer's apply. */
export interface ApplyContext {
  /** Run mode for models that have two (default: the model's first mode). */
  readonly mode?: Mode;
  /** Training mode: dropout is active only when true. */
  readonly training: boolean;
  /** Key for dropout and other per-call randomness (required when `training` and dropout > 0). */
  readonly key?: Key;
  /**
   * Receives every weight product (linear, convolution, attention) and every element-wise
   * operation (norms, neurons, softmax, GELU, adds, multiplies) for energy accounting.
   */
  readonly ops?: OpsCollector;
  /**
   * Recompute each block's activations in the backward pass instead of keeping them
   * (gradient checkpointing, lib/core/remat.ts): less memory for one more forward per block. Only
   * under a gradient tape in training; models without blocks to split ignore it (the hybrid
   * supports it, the NDT transformer does not).
   */
  readonly remat?: boolean;
}

/** Options of a convolution record. */
export interface ConvCountOptions {
  /** Kernel length k along the bins. */
  kernel: number;
  /** Centred kernel (left padding ⌊k/2⌋) rather than causal (left padding k − 1). */
  centered: boolean;
}

/** Options of a matrix-product record. */
export interface MatMulCountOptions {
  /** `b` is given transposed (`[..., N, K]`), as in Q·Kᵀ. */
  transposeB?: boolean;
}

/**
 * Kind of an element-wise operation reported to {@linkcode OpsCollector.elementwise}. One unit of
 * each kind is:
 *
 * - `"norm"`: one normalised element (its share of the mean and variance, (x − μ)·rstd, affine);
 * - `"neuron"`: one LIF/TIM neuron update for one timestep (charge, fire, reset);
 * - `"softmax"`: one softmax element (exp, its share of the sum, divide);
 * - `"gelu"`: one GELU element;
 * - `"add"`: one real-valued addition (residual add, SEW add, mean over T);
 * - `"mul"`: one multiply (scale, mask, gate).
 */
export type ElementwiseKind = "norm" | "neuron" | "softmax" | "gelu" | "add" | "mul";

/**
 * Receives every operation of a forward pass. Weight products come with the actual tensors; the
 * collector made by `opsCounter` (lib/eval/energy.ts) reduces them to counts at once (inside the
 * model's tidy scope), so nothing is kept alive. Element-wise work comes as counts.
 */
export interface OpsCollector {
  /** A linear layer `x [..., K] → [..., outFeatures]`. */
  linear(name: string, x: tf.Tensor, outFeatures: number): void;
  /** A convolution along the bins of `x [..., L, C_in]` with `outChannels` outputs. */
  conv(name: string, x: tf.Tensor, outChannels: number, opts: ConvCountOptions): void;
  /** A batched matrix product `a [..., M, K] · b [..., K, N]` (or `bᵀ` with `transposeB`). */
  matmul(name: string, a: tf.Tensor, b: tf.Tensor, opts?: MatMulCountOptions): void;
  /**
   * Element-wise work that is not a weight product: `count` element operations of `kind`, whole
   * batch.
   */
  elementwise(name: string, kind: ElementwiseKind, count: number): void;
}
