/**
 * Optimisation, optax style: a pure {@linkcode adamw} optimiser over parameter trees, the
 * warm-up plus cosine learning-rate schedule {@linkcode cosineWarmup}, and global-norm gradient
 * clipping {@linkcode clipByGlobalNorm} (PyTorch `clip_grad_norm_` semantics).
 *
 * Nothing here holds hidden state: the optimiser state is a plain tree of tensors (plus step
 * counts) that the caller threads through {@linkcode Optimizer.update}.
 *
 * **Ownership.** Every function returns *new* tensors and never disposes what it was given. After
 * `const next = opt.update(grads, state, params)` the caller owns both the old tensors (`params`,
 * `state.mu`, `state.nu`, `grads`) and the new ones, and disposes the old ones once it no longer
 * needs them:
 *
 * ```ts ignore
 * const next = opt.update(grads, state, params);
 * disposeTree(params); disposeTree(state.mu); disposeTree(state.nu); disposeTree(grads);
 * ({ params, state } = next);
 * ```
 *
 * @module
 */
import { adamwKernel, adamwKernelApplies } from "../../kernels/adamw.ts";
import { tf } from "../core/backend.ts";
import { flatten, type Leaf, type Params, unflatten } from "../core/tree.ts";

/** A learning rate: a constant, or a schedule of the 0-based step being taken. */
export type LearningRate = number | ((step: number) => number);

/**
 * Selects the leaves that receive weight decay. Receives the leaf's dotted path and its tensor;
 * returns `true` to decay it.
 */
export type DecayMask = (path: string, param: tf.Tensor) => boolean;

/** Options of {@linkcode adamw}; the defaults follow PyTorch except `lr`. */
export interface AdamWOptions {
  /** Learning rate or schedule `(step) => lr`, `step` 0-based. Default 1e-4. */
  lr?: LearningRate;
  /** Exponential decay of the first moment. Default 0.9. */
  b1?: number;
  /** Exponential decay of the second moment. Default 0.999. */
  b2?: number;
  /** Added to the bias-corrected root second moment. Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay λ (PyTorch `weight_decay`). Default 0.01. */
  weightDecay?: number;
  /**
   * Which leaves are decayed. Default {@linkcode defaultDecayMask}: tensors of rank ≥ 2 only
   * (weight matrices; not biases, norm gains or other vectors and scalars).
   */
  decayMask?: DecayMask;
}

/**
 * Optimiser state: the number of optimiser steps taken, how many of them updated each parameter,
 * and the Adam moments, one leaf per parameter.
 */
export interface OptState {
  /**
   * Optimiser steps taken so far (0 after `init`), whichever parameters they updated. The
   * learning-rate schedule is a function of this global count.
   */
  step: number;
  /**
   * Per parameter (keyed by its dotted path), the number of steps that updated it: PyTorch's
   * per-parameter `state["step"]`, which only advances when the parameter has a gradient. Bias
   * correction uses this count, so a parameter that sat out some steps (no gradient) is
   * corrected for the updates it actually received.
   */
  paramSteps: Record<string, number>;
  /** First moment (mean of gradients), same tree structure as the parameters. */
  mu: Params;
  /** Second moment (mean of squared gradients), same tree structure as the parameters. */
  nu: Params;
}

/** Result of {@linkcode Optimizer.update}: new parameters and new state, owned by the caller. */
export interface OptUpdate {
  /** Updated parameters (new tensors). */
  params: Params;
  /**
   * Updated state (new tensors; `step` incremented, and `paramSteps` incremented for the
   * parameters that had a gradient).
   */
  state: OptState;
}

/** A pure optimiser over parameter trees. */
export interface Optimizer {
  /**
   * Fresh state for `params`: `step` 0, every parameter's step count 0 and zero moments (new
   * tensors owned by the caller).
   */
  init(params: Params): OptState;
  /**
   * One step. `grads` holds a gradient for each parameter to update; a parameter without one is
   * left as it is, with its moments and step count (PyTorch skips parameters whose `.grad` is
   * `None`). Returns new parameters and state; disposes none of its arguments (the caller
   * disposes the old `params`, `state.mu`, `state.nu` and `grads` when done with them).
   */
  update(grads: Params, state: OptState, params: Params): OptUpdate;
}

/**
 * The default weight-decay mask: decay leaves whose tensor has rank ≥ 2.
 *
 * @example
 * ```ts
 * import { defaultDecayMask, tf } from "@hest/hest";
 * defaultDecayMask("ff.w1", tf.zeros([4, 4])); // true
 * defaultDecayMask("ff.b1", tf.zeros([4])); // false
 * ```
 */
export function defaultDecayMask(_path: string, param: tf.Tensor): boolean {
  return param.rank >= 2;
}

function checkNumber(name: string, v: unknown, lo: number, hi: number, loOpen = false): number {
  if (
    typeof v !== "number" || !Number.isFinite(v) || (loOpen ? v <= lo : v < lo) || v > hi
  ) {
    throw new Error(
      `${name}: expected a finite number in ${loOpen ? "(" : "["}${lo}, ${hi}], found ${String(v)}`,
    );
  }
  return v;
}

function checkKnownKeys(what: string, opts: object, known: readonly string[]): void {
  for (const k of Object.keys(opts)) {
    if (!known.includes(k)) {
      throw new Error(`unknown ${what} option "${k}": expected one of ${known.join(", ")}`);
    }
  }
}

function sameLayout(what: string, expected: Leaf[], found: Leaf[]): void {
  const a = expected.map((l) => l.path), b = found.map((l) => l.path);
  const missing = a.filter((p) => !b.includes(p)), extra = b.filter((p) => !a.includes(p));
  if (missing.length || extra.length) {
    throw new Error(
      `${what}: expected the parameters' paths, found ` +
        [
          missing.length ? `missing ${missing.map((p) => `"${p}"`).join(", ")}` : "",
          extra.length ? `unexpected ${extra.map((p) => `"${p}"`).join(", ")}` : "",
        ].filter(Boolean).join("; "),
    );
  }
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i].tensor.shape, f = found[i].tensor.shape;
    if (e.length !== f.length || e.some((d, j) => d !== f[j])) {
      throw new Error(
        `${what} "${expected[i].path}": expected shape [${e}] like the parameter, found [${f}]`,
      );
    }
  }
}

/**
 * AdamW with PyTorch's `torch.optim.AdamW` semantics, step counts per parameter included. For a
 * parameter with a gradient, t = `state.paramSteps[path] + 1` (the updates it has received,
 * this one included) and learning rate γ = `lr(state.step)` (the schedule follows the global
 * step: it sees the 0-based index of the step being taken, so the first update uses `lr(0)`):
 *
 * ```text
 * θ ← θ·(1 − γ·λ)                        (decoupled decay, only where decayMask is true)
 * m ← β1·m + (1−β1)·g;   v ← β2·v + (1−β2)·g²
 * θ ← θ − (γ/(1−β1^t)) · m / (√v/√(1−β2^t) + ε)
 * ```
 *
 * A parameter missing from `grads` is skipped as PyTorch skips a `None` gradient: no decay, its
 * moments and step count stay as they are (returned as new handles on the same data). This is
 * what alternating training needs, where some parameters take part in one mode only: their bias
 * correction counts only the steps that updated them.
 *
 * `update` is pure: it returns new tensors, built inside `tf.tidy`, and disposes nothing it was
 * given. The caller disposes the old parameters, moments and gradients (see the module docs).
 * Gradients must use parameter paths and the parameters' shapes.
 *
 * @example
 * ```ts
 * import { adamw, disposeTree, tf, type Params } from "@hest/hest";
 * const opt = adamw({ lr: 0.1, weightDecay: 0.01 });
 * let params: Params = { w: tf.ones([2, 2]), b: tf.zeros([2]) };
 * let state = opt.init(params);
 * // only `w` has a gradient this step: `b` keeps its value, moments and step count (0)
 * const grads = { w: tf.fill([2, 2], 0.5) };
 * const next = opt.update(grads, state, params);
 * disposeTree(params);
 * disposeTree(state.mu);
 * disposeTree(state.nu);
 * disposeTree(grads);
 * ({ params, state } = next);
 * console.log(state.step, state.paramSteps); // 1 { w: 1, b: 0 }
 * ```
 */
export function adamw(opts: AdamWOptions = {}): Optimizer {
  checkKnownKeys("adamw", opts, ["lr", "b1", "b2", "eps", "weightDecay", "decayMask"]);
  const lr = opts.lr ?? 1e-4;
  if (typeof lr !== "function") checkNumber("adamw lr", lr, 0, Infinity);
  const b1 = checkNumber("adamw b1", opts.b1 ?? 0.9, 0, 1);
  const b2 = checkNumber("adamw b2", opts.b2 ?? 0.999, 0, 1);
  if (b1 === 1 || b2 === 1) {
    throw new Error(`adamw b1, b2: expected values below 1, found ${b1}, ${b2}`);
  }
  const eps = checkNumber("adamw eps", opts.eps ?? 1e-8, 0, Infinity);
  const weightDecay = checkNumber("adamw weightDecay", opts.weightDecay ?? 0.01, 0, Infinity);
  const decayMask = opts.decayMask ?? defaultDecayMask;
  if (typeof decayMask !== "function") {
    throw new Error(`adamw decayMask: expected a function, found ${typeof decayMask}`);
  }

  function init(params: Params): OptState {
    const leaves = flatten(params);
    const zeros = (): Params =>
      unflatten(leaves.map(({ path, tensor }) => ({ path, tensor: tf.zerosLike(tensor) })));
    const paramSteps = Object.fromEntries(leaves.map((l) => [l.path, 0]));
    return { step: 0, paramSteps, mu: zeros(), nu: zeros() };
  }

  function update(grads: Params, state: OptState, params: Params): OptUpdate {
    const p = flatten(params), m = flatten(state.mu), v = flatten(state.nu);
    const g = new Map(flatten(grads).map((l) => [l.path, l.tensor]));
    const paths = new Set(p.map((l) => l.path));
    const unknown = [...g.keys()].filter((k) => !paths.has(k));
    if (unknown.length) {
      throw new Error(
        `adamw gradients: expected parameter paths, found unexpected ${
          unknown.map((k) => `"${k}"`).join(", ")
        }`,
      );
    }
    for (const { path, tensor } of p) {
      const gt = g.get(path);
      if (gt && !sameShape(gt.shape, tensor.shape)) {
        throw new Error(
          `adamw gradients "${path}": expected shape [${tensor.shape}] like the parameter, found [${gt.shape}]`,
        );
      }
    }
    sameLayout("adamw state.mu", p, m);
    sameLayout("adamw state.nu", p, v);
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new Error(`adamw state.step: expected an integer ≥ 0, found ${state.step}`);
    }
    const counts = checkParamSteps(state.paramSteps, p);
    const step = state.step;
    const gamma = typeof lr === "function" ? lr(step) : lr;
    if (typeof gamma !== "number" || !Number.isFinite(gamma) || gamma < 0) {
      throw new Error(
        `adamw lr schedule: expected a finite number ≥ 0 at step ${step}, found ${gamma}`,
      );
    }
    const decays = p.map(({ path, tensor }) => weightDecay > 0 && decayMask(path, tensor));
    const paramSteps: Record<string, number> = {};
    const out = tf.tidy(() => {
      const res: tf.Tensor[][] = [];
      for (let i = 0; i < p.length; i++) {
        const path = p[i].path, grad = g.get(path);
        if (!grad) {
          // no gradient: new handles on the same data, so the caller's ownership rule holds
          paramSteps[path] = counts[i];
          res.push([tf.clone(p[i].tensor), tf.clone(m[i].tensor), tf.clone(v[i].tensor)]);
          continue;
        }
        const t = counts[i] + 1;
        paramSteps[path] = t;
        const bc1 = 1 - Math.pow(b1, t), bc2Sqrt = Math.sqrt(1 - Math.pow(b2, t));
        const four: [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor] = [
          p[i].tensor,
          m[i].tensor,
          v[i].tensor,
          grad,
        ];
        if (adamwKernelApplies(four)) {
          // the same float32 operations in one WASM call (kernels/adamw.ts): the same bits
          res.push(adamwKernel(four, {
            decay: decays[i],
            keep: 1 - gamma * weightDecay,
            b1,
            omb1: 1 - b1,
            b2,
            omb2: 1 - b2,
            bc2Sqrt,
            eps,
            step: gamma / bc1,
          }));
          continue;
        }
        const gi = tf.cast(grad, "float32");
        const theta = decays[i] ? tf.mul(p[i].tensor, 1 - gamma * weightDecay) : p[i].tensor;
        const mi = tf.add(tf.mul(m[i].tensor, b1), tf.mul(gi, 1 - b1));
        const vi = tf.add(tf.mul(v[i].tensor, b2), tf.mul(tf.square(gi), 1 - b2));
        const denom = tf.add(tf.div(tf.sqrt(vi), bc2Sqrt), eps);
        const pi = tf.sub(theta, tf.mul(tf.div(mi, denom), gamma / bc1));
        res.push([pi, mi, vi]);
      }
      return res;
    });
    const tree = (k: number, leaves: Leaf[]): Params =>
      unflatten(leaves.map((l, i) => ({ path: l.path, tensor: out[i][k] })));
    return {
      params: tree(0, p),
      state: { step: step + 1, paramSteps, mu: tree(1, m), nu: tree(2, v) },
    };
  }

  return { init, update };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, j) => d === b[j]);
}

/** The step count of every parameter in `p`'s order; throws unless there is exactly one each. */
function checkParamSteps(paramSteps: unknown, p: Leaf[]): number[] {
  if (paramSteps === null || typeof paramSteps !== "object" || Array.isArray(paramSteps)) {
    throw new TypeError(
      `adamw state.paramSteps: expected an object of step counts keyed by parameter path, found ${
        paramSteps === null ? "null" : Array.isArray(paramSteps) ? "an array" : typeof paramSteps
      } (a state from before per-parameter step counts?)`,
    );
  }
  const rec = paramSteps as Record<string, unknown>;
  const paths = new Set(p.map((l) => l.path));
  const missing = p.filter((l) => !(l.path in rec)).map((l) => `"${l.path}"`);
  const extra = Object.keys(rec).filter((k) => !paths.has(k)).map((k) => `"${k}"`);
  if (missing.length || extra.length) {
    throw new Error(
      "adamw state.paramSteps: expected one step count per parameter path, found " +
        [
          missing.length ? `missing ${missing.join(", ")}` : "",
          extra.length ? `unexpected ${extra.join(", ")}` : "",
        ].filter(Boolean).join("; "),
    );
  }
  return p.map(({ path }) => {
    const n = rec[path];
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(
        `adamw state.paramSteps "${path}": expected an integer ≥ 0, found ${String(n)}`,
      );
    }
    return n;
  });
}

/** Options of {@linkcode cosineWarmup}. */
export interface CosineWarmupOptions {
  /** Length of the schedule in steps (integer ≥ 1); later steps get `minLr`. */
  totalSteps: number;
  /** Linear warm-up steps from 0 to `peakLr`; default `round(0.03·totalSteps)`. */
  warmupSteps?: number;
  /** Learning rate at the end of the warm-up. */
  peakLr: number;
  /** Learning rate reached at `totalSteps`. Default 0. */
  minLr?: number;
}

/**
 * Linear warm-up then half-cosine decay (HuggingFace `get_cosine_schedule_with_warmup`, plus a
 * floor). With W = `warmupSteps` and S = `totalSteps`:
 *
 * ```text
 * lr(s) = peakLr·s/W                                                   s < W
 * lr(s) = minLr + ½(peakLr − minLr)(1 + cos(π·min(1, (s−W)/max(1, S−W))))   s ≥ W
 * ```
 *
 * so the rate is 0 at step 0, `peakLr` at step W and `minLr` from step S on. Throws on invalid
 * options (non-integer or negative step counts, W > S, minLr outside [0, peakLr]).
 *
 * @example
 * ```ts
 * import { cosineWarmup } from "@hest/hest";
 * cosineWarmup(55, { totalSteps: 100, warmupSteps: 10, peakLr: 1 }); // 0.5
 * ```
 */
export function cosineWarmup(step: number, opts: CosineWarmupOptions): number {
  checkKnownKeys("cosineWarmup", opts, ["totalSteps", "warmupSteps", "peakLr", "minLr"]);
  const { totalSteps, peakLr } = opts;
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new Error(`cosineWarmup totalSteps: expected an integer ≥ 1, found ${totalSteps}`);
  }
  const w = opts.warmupSteps ?? Math.round(0.03 * totalSteps);
  if (!Number.isInteger(w) || w < 0 || w > totalSteps) {
    throw new Error(
      `cosineWarmup warmupSteps: expected an integer in [0, ${totalSteps}], found ${w}`,
    );
  }
  checkNumber("cosineWarmup peakLr", peakLr, 0, Infinity);
  const minLr = checkNumber("cosineWarmup minLr", opts.minLr ?? 0, 0, peakLr);
  if (typeof step !== "number" || !Number.isFinite(step) || step < 0) {
    throw new Error(`cosineWarmup step: expected a finite number ≥ 0, found ${step}`);
  }
  if (step < w) return peakLr * step / w;
  const progress = Math.min(1, (step - w) / Math.max(1, totalSteps - w));
  return minLr + 0.5 * (peakLr - minLr) * (1 + Math.cos(Math.PI * progress));
}

/** Result of {@linkcode clipByGlobalNorm}. */
export interface ClipResult {
  /**
   * The clipped gradients: a new tree (owned by the caller) when they were scaled down, else the
   * input tree itself (`result.grads === grads`). Dispose it only when it differs from the input.
   */
  grads: Params;
  /** Global L2 norm before clipping; NaN or Infinity when a gradient is not finite. */
  norm: number;
}

/**
 * Scale all gradients together so their global L2 norm is at most `maxNorm`
 * (`torch.nn.utils.clip_grad_norm_`):
 *
 * ```text
 * total = √(Σ_p ‖g_p‖²);   coef = min(1, maxNorm/(total + 1e-6));   g ← coef·g
 * ```
 *
 * Returns the pre-clip norm, read with `await t.data()` (works on WebGPU). When `coef` is 1
 * (norm within bounds) or the norm is not finite, the input tree is returned unchanged, so a
 * trainer can test `!Number.isFinite(norm)` and skip the step. Never disposes its input.
 *
 * @example
 * ```ts
 * import { clipByGlobalNorm, tf } from "@hest/hest";
 * const { grads, norm } = await clipByGlobalNorm({ a: tf.tensor1d([3, 4]), b: tf.tensor1d([12]) });
 * console.log(norm); // 13
 * ```
 */
export async function clipByGlobalNorm(grads: Params, maxNorm = 1.0): Promise<ClipResult> {
  checkNumber("clipByGlobalNorm maxNorm", maxNorm, 0, Infinity, true);
  const leaves = flatten(grads);
  if (leaves.length === 0) return { grads, norm: 0 };
  const total = tf.tidy(() =>
    tf.sqrt(tf.addN(leaves.map((l) => tf.sum(tf.square(tf.cast(l.tensor, "float32"))))))
  );
  const norm = (await total.data())[0];
  total.dispose();
  if (!Number.isFinite(norm)) return { grads, norm };
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  if (coef >= 1) return { grads, norm };
  const scaled = tf.tidy(() => leaves.map((l) => tf.mul(tf.cast(l.tensor, "float32"), coef)));
  return {
    grads: unflatten(leaves.map((l, i) => ({ path: l.path, tensor: scaled[i] }))),
    norm,
  };
}
