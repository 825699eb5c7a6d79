/**
 * Gradient-flow diagnostics: whether a deep model fails by vanishing (or exploding) gradients or
 * by silence (spiking sites that stop firing).
 *
 * - {@linkcode groupGradNorms}: the global norm of each block's parameter gradients (and of each
 *   other top-level group: `embed`, `readout`, …).
 * - {@linkcode spikeDiagnostics}: each block's mean firing rate over its LIF sites, and the
 *   fraction of its sites' channels that never fire on a batch.
 *
 * {@linkcode train} runs both with the train option `diagnostics: { every: N }`: every N steps
 * of each mode it adds a record to the training log (`log.jsonl`, and
 * {@linkcode StepInfo.diagnostics} for `onStep`):
 *
 * ```json
 * {"kind":"diagnostics","step":0,"mode":"spiking","gradNorms":{"block0":0.12,…},
 *  "firingRates":{"embed":0.07,"block0":0.04,…},"deadFraction":{"embed":0.1,"block0":0,…}}
 * ```
 *
 * `step` is the 0-based step index, as in `"train"` records; the gradient norms are the step's
 * own pre-clip gradients (of the leaves its mode uses) and the spike statistics are measured
 * in spiking mode on the parameters the step starts from, on the first `batchSize` validation
 * trials, unmasked and without dropout, so step 0 describes the initialisation. Spike statistics
 * appear in spiking-mode records only. A non-finite norm is written as `null` (JSON has no NaN).
 * The diagnostics change nothing in the run: with and without them the parameters are the same.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { type Key, key as makeKey } from "../core/random.ts";
import { flatten, type Params } from "../core/tree.ts";
import { describe } from "../core/validation.ts";
import type { SpikeStatsCollector } from "../model/blocks.ts";
import type { Model } from "../model/hybrid.ts";
import type { Mode } from "../nn/types.ts";

/** The train option `diagnostics`. */
export interface DiagnosticsOptions {
  /** Log a record every this many steps of each mode (an integer >= 1). */
  every: number;
}

/** A `"diagnostics"` record of the training log (see the module docs). */
export interface DiagnosticsRecord {
  /** Always `"diagnostics"`. */
  kind: "diagnostics";
  /** 0-based step index. */
  step: number;
  /** Mode the step trained (the gradients are of this mode). */
  mode: Mode;
  /** Pre-clip global gradient norm of each group (`"block0"`, …, `"embed"`, `"readout"`, …). */
  gradNorms: Record<string, number>;
  /** Mean firing rate of each block's LIF sites (and of `"embed"`), spiking-mode steps only. */
  firingRates?: Record<string, number>;
  /** Fraction of each block's site channels that never fired on the batch, spiking steps only. */
  deadFraction?: Record<string, number>;
}

/**
 * Check the train option `diagnostics` and return it: an object `{ every }` with `every` an
 * integer >= 1. A wrong type or unknown key throws a `TypeError`, a number out of range a
 * `RangeError`, naming the option.
 *
 * @example
 * ```ts
 * import { resolveDiagnosticsOptions } from "@hest/hest";
 * resolveDiagnosticsOptions({ every: 50 }); // { every: 50 }
 * ```
 */
export function resolveDiagnosticsOptions(v: unknown): DiagnosticsOptions {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new TypeError(
      `train option "diagnostics" must be an object such as { every: 50 }, found ${describe(v)}`,
    );
  }
  for (const k of Object.keys(v)) {
    if (k !== "every") {
      throw new TypeError(`unknown key "${k}" in train option "diagnostics": expected every`);
    }
  }
  const every = (v as { every?: unknown }).every;
  if (typeof every !== "number") {
    throw new TypeError(
      `train option "diagnostics.every" must be an integer >= 1, found ${describe(every)}`,
    );
  }
  if (!Number.isSafeInteger(every) || every < 1) {
    throw new RangeError(
      `train option "diagnostics.every" must be an integer >= 1, found ${every}`,
    );
  }
  return { every };
}

/** The alternating schedule's shape (see `TrainOptions.switchEvery`, `standardPerSpiking`). */
export interface ScheduleShape {
  /** `"standard"`, `"spiking"` or `"alternate"`. */
  schedule: "standard" | "spiking" | "alternate";
  /** Steps per mode run (default 1). */
  switchEvery?: number;
  /** Standard runs per spiking run (default 1). */
  standardPerSpiking?: number;
  /** Standard-mode steps before the schedule (default 0; `TrainOptions.standardFirstFraction`). */
  standardFirst?: number;
}

/**
 * The mode a step trains: the first `standardFirst` steps are standard; after them, in the
 * alternating schedule each cycle is `switchEvery · standardPerSpiking` standard steps, then
 * `switchEvery` spiking steps, and a one-mode schedule is its mode at every step.
 *
 * @example
 * ```ts
 * import { modeOfStep } from "@hest/hest";
 * modeOfStep(2, { schedule: "alternate", standardPerSpiking: 2 }); // "spiking"
 * ```
 */
export function modeOfStep(step: number, shape: ScheduleShape): "standard" | "spiking" {
  const first = shape.standardFirst ?? 0;
  if (step < first) return "standard";
  step -= first;
  if (shape.schedule !== "alternate") return shape.schedule;
  const k = shape.switchEvery ?? 1;
  const std = k * (shape.standardPerSpiking ?? 1);
  return step % (std + k) < std ? "standard" : "spiking";
}

/**
 * How many steps of its own mode came before `step`: the step itself in a one-mode schedule; in
 * the alternating one (see {@linkcode modeOfStep}) the count of earlier steps in the same mode.
 * A diagnostics record is due when it is a multiple of `every`, so each mode gets one every
 * `every` of its steps, whatever the schedule's shape.
 *
 * @example
 * ```ts
 * import { stepOfMode } from "@hest/hest";
 * stepOfMode(5, { schedule: "alternate", switchEvery: 1 }); // 2 (spiking steps 1, 3 came first)
 * ```
 */
export function stepOfMode(step: number, shape: ScheduleShape): number {
  const first = shape.standardFirst ?? 0;
  if (step < first) return step;
  const rest = step - first;
  // the standard mode's count goes on from the first part; the spiking mode's starts at 0
  const before = modeOfStep(step, shape) === "standard" ? first : 0;
  if (shape.schedule !== "alternate") return before + rest;
  const k = shape.switchEvery ?? 1;
  const std = k * (shape.standardPerSpiking ?? 1);
  const cycles = Math.floor(rest / (std + k));
  const pos = rest % (std + k);
  return before + (pos < std ? cycles * std + pos : cycles * k + (pos - std));
}

/**
 * The diagnostics group of a parameter path: `"blocks.3.ff1.w"` → `"block3"`, any other path
 * its first key (`"embed.w"` → `"embed"`, `"lnFinal.g"` → `"lnFinal"`). Spike sites are named
 * the same way (`"block3.q"` → `"block3"`).
 *
 * @example
 * ```ts
 * import { diagnosticsGroup } from "@hest/hest";
 * diagnosticsGroup("blocks.12.sn.q.g"); // "block12"
 * ```
 */
export function diagnosticsGroup(path: string): string {
  const parts = path.split(".");
  if (parts[0] === "blocks" && parts.length > 1) return `block${parts[1]}`;
  return parts[0];
}

/** Blocks first, by index, then the other groups by name. */
function groupOrder(a: string, b: string): number {
  const ia = /^block(\d+)$/.exec(a), ib = /^block(\d+)$/.exec(b);
  if (ia && ib) return Number(ia[1]) - Number(ib[1]);
  if (ia) return -1;
  if (ib) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The global (L2) norm of the gradients of each group of parameters (see
 * {@linkcode diagnosticsGroup}): √(Σ over the group's leaves of Σ g²). One read from the device.
 *
 * @example
 * ```ts
 * import { groupGradNorms, tf } from "@hest/hest";
 * const norms = await groupGradNorms({
 *   blocks: { "0": { w: tf.tensor1d([3, 4]) } },
 *   embed: { w: tf.tensor1d([1]) },
 * }); // { block0: 5, embed: 1 }
 * ```
 */
export async function groupGradNorms(grads: Params): Promise<Record<string, number>> {
  const leaves = flatten(grads);
  const groups = [...new Set(leaves.map((l) => diagnosticsGroup(l.path)))].sort(groupOrder);
  if (groups.length === 0) return {};
  const index = new Map(groups.map((g, i) => [g, i]));
  const sq = tf.tidy(() => {
    const sums: tf.Scalar[][] = groups.map(() => []);
    for (const l of leaves) {
      sums[index.get(diagnosticsGroup(l.path))!].push(tf.sum(tf.square(l.tensor)));
    }
    return tf.stack(sums.map((s) => (s.length === 1 ? s[0] : tf.addN(s))));
  });
  const v = await sq.data();
  sq.dispose();
  return Object.fromEntries(groups.map((g, i) => [g, Math.sqrt(v[i])]));
}

/** Per-site results of {@linkcode spikeDiagnostics}. */
export interface SiteDiagnostics {
  /** Mean spikes per neuron per timestep. */
  rate: number;
  /** Channels of the site (the last axis; heads × channels for `[T, B, H, L, d]` sites). */
  channels: number;
  /** Channels that never fired on the batch. */
  dead: number;
}

/** What {@linkcode spikeDiagnostics} returns. */
export interface SpikeDiagnostics {
  /** Mean firing rate of each group's sites together (`"embed"`, `"block0"`, …). */
  firingRates: Record<string, number>;
  /** Dead channels / channels over each group's sites. */
  deadFraction: Record<string, number>;
  /** The same, site by site (`"block0.q"`, …). */
  sites: Record<string, SiteDiagnostics>;
}

/** Options of {@linkcode spikeDiagnostics}. */
export interface SpikeDiagnosticsOptions {
  /** Held-in counts `[B, bins, nInputs]` of the batch, unmasked. */
  input: tf.Tensor;
  /** Key of the model's inference draws (spike masks, Poisson encoding); default `key(0)`. */
  key?: Key;
  /**
   * Trials per forward pass (default 8): an inference pass keeps every block's tensors until it
   * returns, which at 100 spiking blocks is about 1.4 MB per trial and block.
   */
  batchSize?: number;
}

/**
 * Firing rates and dead channels of a spiking-mode forward pass of `model` (inference: no
 * dropout) on one batch (in slices of `batchSize` trials), from the spikes every LIF site
 * reports to `ctx.stats`. A channel of a
 * site is dead when it fires at no timestep, trial or bin of the batch. Groups as
 * {@linkcode diagnosticsGroup}: `"embed"` (the embedding LIF) and `"block<i>"` (all of block i's
 * sites, weighted by their sizes).
 *
 * @example
 * ```ts
 * import { hybridTransformer, key, spikeDiagnostics, tf } from "@hest/hest";
 * const model = hybridTransformer({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const d = await spikeDiagnostics(model, model.init(key(0)), { input: tf.ones([2, 10, 3]) });
 * console.log(d.firingRates.block0, d.deadFraction.block0);
 * ```
 */
export async function spikeDiagnostics(
  model: Model,
  params: Params,
  opts: SpikeDiagnosticsOptions,
): Promise<SpikeDiagnostics> {
  if (!model.modes?.includes("spiking")) {
    throw new RangeError(
      `spikeDiagnostics needs a model that runs in spiking mode; this one runs in ${
        (model.modes ?? ["standard"]).join(", ")
      }`,
    );
  }
  if (!(opts?.input instanceof tf.Tensor)) {
    throw new TypeError(
      `spikeDiagnostics option "input" must be a tf.Tensor [batch, bins, nInputs], found ${
        describe(opts?.input)
      }`,
    );
  }
  const found: { name: string; perChannel: tf.Tensor; n: number }[] = [];
  const stats: SpikeStatsCollector = {
    record(name: string, s: tf.Tensor) {
      // channels: the last axis ([T, B, L, C]), or heads × channels for the [T, B, H, L, d]
      // sites (TIM's output), whose bins sit between the two
      const axes = s.rank === 5 ? [0, 1, 3] : s.shape.slice(0, -1).map((_, i) => i);
      const perChannel = tf.keep(tf.reshape(tf.sum(s, axes), [-1]));
      found.push({ name, perChannel, n: s.size / perChannel.size });
    },
  };
  const bs = opts.batchSize ?? 8;
  if (typeof bs !== "number" || !Number.isSafeInteger(bs) || bs < 1) {
    const E = typeof bs === "number" ? RangeError : TypeError;
    throw new E(
      `spikeDiagnostics option "batchSize" must be an integer >= 1, found ${describe(bs)}`,
    );
  }
  let v: Float32Array | Int32Array | Uint8Array;
  try {
    const n = opts.input.shape[0];
    for (let s = 0; s < n; s += bs) {
      const input = tf.slice(opts.input, s, Math.min(bs, n - s));
      const out = model.apply(params, { input }, {
        training: false,
        mode: "spiking",
        stats,
        key: opts.key ?? makeKey(0),
      });
      tf.dispose([input, out]);
    }
    const all = found.length > 0 ? tf.concat(found.map((f) => f.perChannel)) : tf.zeros([0]);
    v = await all.data();
    all.dispose();
  } finally {
    tf.dispose(found.map((f) => f.perChannel));
  }
  // per site: spikes per channel (summed over the site's reports) and elements per channel
  const bySite = new Map<string, { spikes: Float64Array; n: number }>();
  let at = 0;
  for (const f of found) {
    const c = f.perChannel.size;
    const prev = bySite.get(f.name);
    if (prev && prev.spikes.length !== c) {
      throw new RangeError(
        `spike site "${f.name}" reported ${c} channels, earlier ${prev.spikes.length}`,
      );
    }
    const spikes = prev ? prev.spikes : new Float64Array(c);
    for (let i = 0; i < c; i++) spikes[i] += v[at + i];
    at += c;
    bySite.set(f.name, { spikes, n: (prev?.n ?? 0) + f.n });
  }
  const sites: Record<string, SiteDiagnostics> = {};
  const acc = new Map<string, { spikes: number; n: number; channels: number; dead: number }>();
  for (const [name, { spikes, n }] of bySite) {
    let total = 0, dead = 0;
    for (const x of spikes) {
      total += x;
      if (x === 0) dead++;
    }
    const channels = spikes.length;
    sites[name] = { rate: total / (channels * n), channels, dead };
    const g = diagnosticsGroup(name);
    const a = acc.get(g) ?? { spikes: 0, n: 0, channels: 0, dead: 0 };
    a.spikes += total;
    a.n += channels * n;
    a.channels += channels;
    a.dead += dead;
    acc.set(g, a);
  }
  const groups = [...acc.keys()].sort(groupOrder);
  return {
    firingRates: Object.fromEntries(groups.map((g) => [g, acc.get(g)!.spikes / acc.get(g)!.n])),
    deadFraction: Object.fromEntries(
      groups.map((g) => [g, acc.get(g)!.dead / acc.get(g)!.channels]),
    ),
    sites,
  };
}
