/**
 * The synthetic Lorenz spiking dataset of LFADS and NDT, generated in TypeScript.
 *
 * {@linkcode lorenzDataset} follows the recipe of LFADS `generateDemoDatasets.m`
 * (`lfads/lfads-run-manager`, commit `927fa896`, Apache-2.0), the generator behind NDT's
 * `lfads_lorenz.h5` (65 conditions × 24 trials × 50 bins of 20 ms × 29 neurons):
 *
 * 1. **Lorenz system** σ = 10, ρ = 28, β = 8/3, integrated by forward Euler with dt = 0.006 per
 *    1-ms step.
 * 2. **Conditions** (65): initial states `randn(3) + [0, 0, 25]`, run through a 500-step burn-in;
 *    the state after the burn-in is the condition's start state. Each condition is simulated for
 *    `(bins + forwardBins) · binSizeMs` steps (1 ms each): the trial window, then the forward
 *    window.
 * 3. **Normalisation**, per condition and dimension over the whole simulated window (trial and
 *    forward part): subtract the mean over time, then divide by the max over time (not the max
 *    absolute value), so each dimension peaks at exactly 1 and dips to about −2.
 * 4. **Readout** `W = sortrows((U(0,1) + 1) · sign(N(0,1)), 1)` (neurons × 3, entries ±[1, 2],
 *    rows sorted by the first column ascending), `b = log(meanRateHz / 1000)`; the log-rate per
 *    ms is `W·x + b` clipped to [−20, 20] and the rate per ms is its exponential.
 * 5. **Trials** (24 per condition) all share their condition's rates; only the spikes differ.
 * 6. **Spikes**, by `spikes`:
 *    - `"binary1ms"` (default): LFADS exactly — `poissrnd(rate_ms) > 0` at each ms (at most one
 *      spike per ms), then summed into bins, so counts lie in [0, binSizeMs]; the true rate is
 *      the exact expected count Σ (1 − e^{−rate_ms}). High rates saturate at one spike per ms,
 *      as in the data NDT and LFADS were evaluated on.
 *    - `"poisson"`: each bin's count is Poisson with mean Σ over the bin's ms of `rate_ms`, and
 *      that sum is the true rate (expected count per bin). This is the inhomogeneous Poisson
 *      process the rates describe, with no saturation; the Lorenz peaks then give rare counts in
 *      the hundreds per 20-ms bin.
 * 7. **Behaviour**: the normalised 3-D state averaged within each bin (`x`, `y`, `z`), aligned
 *    with `counts` (the forward window is excluded).
 *
 * **Variant.** The LFADS file codes dy/dt = x·(ρ − z) **without** the textbook −y term
 * (`variant: "lfads"`, the default); `variant: "textbook"` uses dy/dt = x·(ρ − z) − y. Both share
 * the fixed points (±√(β(ρ−c)), ±√(β(ρ−c)), ρ − c), c = 0 (LFADS) or 1 (textbook). The LFADS
 * system is the default because it is the one behind the published LFADS/NDT data and it is
 * well-behaved. Checked numerically (Euler, dt = 0.006, 200 random initial states, 500 burn-in +
 * 1200 steps, and 10⁵ steps) it stays bounded (|state| ≤ 53 within a trial vs. 50 for the
 * textbook system, z ∈ [3, 53]) and never blows up; it switches lobes about 5 times per 1.2-s
 * window (4.6 textbook) and nearby trajectories separate at about 0.96 per time unit (0.93
 * textbook, whose largest Lyapunov exponent is 0.906), so it is just as chaotic. It also
 * normalises better: over 30 seeds × 65 conditions the lowest normalised value was −2.6 (LFADS)
 * but −16.6 (textbook). With the textbook system a few conditions per thousand spend the window
 * near the top of one dimension, so dividing by the max blows the dips up to −5…−17, log-rates
 * hit the +20 clip, and `"poisson"` counts reach 10⁹ per bin (`"binary1ms"` saturates them at
 * one spike per ms instead). Prefer `"binary1ms"` with the textbook system.
 *
 * All randomness comes from one key (`seed` or `key`), split into independent streams for the
 * initial states, the readout, the trial counts, the spikes (one stream per condition and
 * repetition, so the first conditions do not change when `conditions` grows) and the default
 * held-out neurons and trial split. The result is fully deterministic.
 *
 * @module
 */
import { type Array3D, DatasetError, type SpikeDataset, spikeDataset } from "./dataset.ts";
import { foldIn, type Key, key as makeKey, split as splitKey, stream } from "../core/random.ts";
import { checkKeys, describe } from "../core/validation.ts";

/** Which Lorenz system: LFADS's (no −y in dy/dt) or the textbook one. */
export type LorenzVariant = "lfads" | "textbook";

/** How spikes are drawn from the rates (see {@linkcode lorenzDataset}). */
export type LorenzSpikes = "poisson" | "binary1ms";

/**
 * Options of {@linkcode lorenzTrajectory}: the Lorenz parameters and the Euler step.
 *
 * @example
 * ```ts
 * import { lorenzTrajectory } from "@hest/hest";
 * const opts = { variant: "textbook", dt: 0.01 } as const;
 * const states = lorenzTrajectory([1, 1, 25], 10, opts);
 * ```
 */
export interface LorenzTrajectoryOptions {
  /** `"lfads"` (dy/dt = x(ρ − z)) or `"textbook"` (dy/dt = x(ρ − z) − y). Default `"lfads"`. */
  variant?: LorenzVariant;
  /** Euler step in Lorenz time units per sample. Default 0.006. */
  dt?: number;
  /** σ. Default 10. */
  sigma?: number;
  /** ρ. Default 28. */
  rho?: number;
  /** β. Default 8/3. */
  beta?: number;
}

/**
 * Options of {@linkcode lorenzDataset}. Every field is optional; the defaults reproduce the
 * NDT Lorenz dataset's sizes (65 × 24 trials, 50 bins of 20 ms, 29 neurons).
 *
 * @example
 * ```ts
 * import { lorenzDataset, type LorenzOptions } from "@hest/hest";
 * const opts: LorenzOptions = { seed: 3, conditions: 8, trialsPerCondition: [2, 4] };
 * const ds = lorenzDataset(opts);
 * ```
 */
export interface LorenzOptions extends LorenzTrajectoryOptions {
  /** Integer seed of the key all randomness comes from. Default 0. Give `seed` or `key`. */
  seed?: number;
  /** Random key (instead of `seed`). Default `key(seed)`. */
  key?: Key;
  /** Number of conditions (distinct Lorenz trajectories). Default 65. */
  conditions?: number;
  /**
   * Trials per condition: a positive integer, or an inclusive range `[min, max]` drawn
   * uniformly per condition (LFADS draws 20–30). Default 24.
   */
  trialsPerCondition?: number | readonly [number, number];
  /** Number of neurons (rows of the readout). Default 29. */
  neurons?: number;
  /** Bins in the trial window. Default 50. */
  bins?: number;
  /** Bin width in ms (one Euler step per ms). Default 20. */
  binSizeMs?: number;
  /** Bins in the forward window that follows each trial. Default 10. */
  forwardBins?: number;
  /** Euler steps discarded before each condition's start state. Default 500. */
  burnInSteps?: number;
  /** Mean firing rate in Hz that sets the readout bias `b = log(meanRateHz / 1000)`. Default 5. */
  meanRateHz?: number;
  /** `"poisson"` (count per bin ~ Poisson(Σ rate_ms)) or `"binary1ms"` (LFADS). Default `"binary1ms"`. */
  spikes?: LorenzSpikes;
  /** Fraction of neurons held out for co-smoothing. Default 0.25. */
  heldOutFraction?: number;
  /** `[train, val, test]` trial fractions. Default `[0.7, 0.1, 0.2]`. */
  splitFractions?: readonly [number, number, number];
  /** Dataset name. Default `"lorenz"`. */
  name?: string;
}

const DEFAULTS = {
  seed: 0,
  conditions: 65,
  trialsPerCondition: 24,
  neurons: 29,
  bins: 50,
  binSizeMs: 20,
  forwardBins: 10,
  burnInSteps: 500,
  meanRateHz: 5,
  spikes: "binary1ms" as LorenzSpikes,
  heldOutFraction: 0.25,
  splitFractions: [0.7, 0.1, 0.2] as const,
  name: "lorenz",
  variant: "lfads" as LorenzVariant,
  dt: 0.006,
  sigma: 10,
  rho: 28,
  beta: 8 / 3,
};

const OPTION_KEYS = Object.keys(DEFAULTS).concat(["key"]);
const TRAJECTORY_KEYS = ["variant", "dt", "sigma", "rho", "beta"];
const LOG_RATE_CLIP = 20;

function fail(option: string, expected: string, found: unknown): never {
  throw new DatasetError(
    `Lorenz option "${option}" must be ${expected}, found ${describe(found)}`,
  );
}

/** The shared key check, reported as a DatasetError like every other data-option problem. */
function checkOptionKeys(opts: object, allowed: readonly string[], what: string): void {
  checkKeys(opts, allowed, what, DatasetError);
}

function posInt(option: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
    fail(option, "a positive integer", v);
  }
  return v;
}

function nonNegInt(option: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    fail(option, "a non-negative integer", v);
  }
  return v;
}

function posNumber(option: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    fail(option, "a finite positive number", v);
  }
  return v;
}

function finiteNumber(option: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) fail(option, "a finite number", v);
  return v;
}

function oneOf<T extends string>(option: string, v: unknown, choices: readonly T[]): T {
  if (!choices.includes(v as T)) {
    fail(option, `one of ${choices.map((c) => JSON.stringify(c)).join(", ")}`, v);
  }
  return v as T;
}

interface Dynamics {
  variant: LorenzVariant;
  dt: number;
  sigma: number;
  rho: number;
  beta: number;
}

function resolveDynamics(opts: LorenzTrajectoryOptions): Dynamics {
  return {
    variant: oneOf("variant", opts.variant ?? DEFAULTS.variant, ["lfads", "textbook"]),
    dt: posNumber("dt", opts.dt ?? DEFAULTS.dt),
    sigma: finiteNumber("sigma", opts.sigma ?? DEFAULTS.sigma),
    rho: finiteNumber("rho", opts.rho ?? DEFAULTS.rho),
    beta: finiteNumber("beta", opts.beta ?? DEFAULTS.beta),
  };
}

/** Fill `out` (length ≥ 3·steps) with `steps` Euler states, the first being `x0`. */
function integrate(x0: ArrayLike<number>, steps: number, d: Dynamics, out: Float64Array): void {
  const textbook = d.variant === "textbook";
  let x = x0[0];
  let y = x0[1];
  let z = x0[2];
  for (let i = 0; i < steps; i++) {
    if (i > 0) {
      const dx = d.sigma * (y - x);
      const dy = textbook ? x * (d.rho - z) - y : x * (d.rho - z);
      const dz = x * y - d.beta * z;
      x += d.dt * dx;
      y += d.dt * dy;
      z += d.dt * dz;
    }
    out[3 * i] = x;
    out[3 * i + 1] = y;
    out[3 * i + 2] = z;
  }
}

/**
 * Integrate the Lorenz system by forward Euler: `steps` states `[steps, 3]` row-major, state 0
 * being `x0` and state i the Euler step of state i − 1. Throws if the state stops being finite.
 *
 * @example
 * ```ts
 * import { lorenzTrajectory } from "@hest/hest";
 * const s = lorenzTrajectory([1, 2, 25], 2, { variant: "lfads" });
 * // s[3] = 1 + 0.006 · 10 · (2 − 1) = 1.06
 * ```
 */
export function lorenzTrajectory(
  x0: ArrayLike<number>,
  steps: number,
  opts: LorenzTrajectoryOptions = {},
): Float64Array {
  checkOptionKeys(opts, TRAJECTORY_KEYS, "Lorenz trajectory option");
  if (!x0 || x0.length !== 3 || !Array.from(x0).every((v) => Number.isFinite(v))) {
    throw new DatasetError(`lorenzTrajectory x0 must be 3 finite numbers, found ${describe(x0)}`);
  }
  nonNegInt("steps", steps);
  const out = new Float64Array(3 * steps);
  integrate(x0, steps, resolveDynamics(opts), out);
  if (steps > 0 && !out.subarray(3 * steps - 3).every(Number.isFinite)) {
    throw new DatasetError(
      `Lorenz trajectory from [${Array.from(x0).join(", ")}] diverged within ${steps} steps`,
    );
  }
  return out;
}

/**
 * Generate the synthetic Lorenz spiking dataset (LFADS `generateDemoDatasets.m` recipe; see the
 * module docs for every step). Trials are ordered condition by condition; `conditions` gives the
 * condition of each trial; `trueRates` are expected counts per bin; `behavior` is the normalised
 * latent state averaged per bin. `meta` records every setting, the readout `W` (`readout`, rows
 * = neurons), the bias, and each condition's start state (`startStates`), so the rates can be
 * recomputed with {@linkcode lorenzTrajectory}.
 *
 * The default dataset (65 × 24 trials × 50 bins × 29 neurons + 10 forward bins) has a mean
 * count of about 0.21 per 20-ms bin (10 Hz), 86 % of bins are empty, and the largest count is a
 * few hundred.
 *
 * @example
 * ```ts
 * import { lorenzDataset } from "@hest/hest";
 * const ds = lorenzDataset({ seed: 1, conditions: 8, trialsPerCondition: 4 });
 * console.log(ds.counts.shape); // [32, 50, 29]
 * ```
 */
export function lorenzDataset(opts: LorenzOptions = {}): SpikeDataset {
  checkOptionKeys(opts, OPTION_KEYS, "Lorenz option");
  if (opts.seed !== undefined && opts.key !== undefined) {
    throw new DatasetError(`Lorenz options "seed" and "key" are exclusive: give one, found both`);
  }
  const seed = opts.seed ?? DEFAULTS.seed;
  if (!Number.isSafeInteger(seed)) fail("seed", "a safe integer", seed);
  const k = opts.key;
  if (
    k !== undefined &&
    (!Array.isArray(k) || k.length !== 2 ||
      !k.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32))
  ) {
    fail("key", "a random key [uint32, uint32]", k);
  }
  const root: Key = k ?? makeKey(seed);
  const nCond = posInt("conditions", opts.conditions ?? DEFAULTS.conditions);
  const tpc = opts.trialsPerCondition ?? DEFAULTS.trialsPerCondition;
  let tpcRange: [number, number];
  if (Array.isArray(tpc)) {
    if (
      tpc.length !== 2 || !tpc.every((v) => Number.isSafeInteger(v) && v >= 1) || tpc[0] > tpc[1]
    ) {
      fail(
        "trialsPerCondition",
        "a positive integer or a range [min, max] with 1 ≤ min ≤ max",
        tpc,
      );
    }
    tpcRange = [tpc[0], tpc[1]];
  } else {
    const n = posInt("trialsPerCondition", tpc);
    tpcRange = [n, n];
  }
  const nNeurons = posInt("neurons", opts.neurons ?? DEFAULTS.neurons);
  const nBins = posInt("bins", opts.bins ?? DEFAULTS.bins);
  const binMs = posInt("binSizeMs", opts.binSizeMs ?? DEFAULTS.binSizeMs);
  const nFwd = nonNegInt("forwardBins", opts.forwardBins ?? DEFAULTS.forwardBins);
  const burnIn = nonNegInt("burnInSteps", opts.burnInSteps ?? DEFAULTS.burnInSteps);
  const meanRateHz = posNumber("meanRateHz", opts.meanRateHz ?? DEFAULTS.meanRateHz);
  const spikes = oneOf("spikes", opts.spikes ?? DEFAULTS.spikes, ["poisson", "binary1ms"]);
  const name = opts.name ?? DEFAULTS.name;
  if (typeof name !== "string" || name === "") fail("name", "a non-empty string", name);
  const dyn = resolveDynamics(opts);
  const heldOutFraction = opts.heldOutFraction ?? DEFAULTS.heldOutFraction;
  const splitFractions = opts.splitFractions ?? DEFAULTS.splitFractions;

  const [kInit, kReadout, kTrials, kSpikes, kSplits] = splitKey(root, 5);
  const nAll = nBins + nFwd; // bins simulated per condition
  const steps = nAll * binMs; // 1 ms per Euler step

  // Readout: W = sortrows((rand + 1) .* sign(randn), 1); b = log(meanRate / 1000).
  const rs = stream(kReadout);
  const rows: number[][] = [];
  for (let n = 0; n < nNeurons; n++) {
    const row: number[] = [];
    for (let d = 0; d < 3; d++) {
      const mag = rs.next() + 1;
      row.push(rs.normal() < 0 ? -mag : mag);
    }
    rows.push(row);
  }
  rows.sort((a, b) => a[0] - b[0]);
  const bias = Math.log(meanRateHz / 1000);

  // Trials per condition.
  const ts = stream(kTrials);
  const perCond: number[] = [];
  for (let c = 0; c < nCond; c++) {
    perCond.push(tpcRange[0] + Math.floor(ts.next() * (tpcRange[1] - tpcRange[0] + 1)));
  }
  const nTrials = perCond.reduce((a, b) => a + b, 0);

  const counts = new Float32Array(nTrials * nBins * nNeurons);
  const fwdCounts = new Float32Array(nTrials * nFwd * nNeurons);
  const rates = new Float32Array(nTrials * nBins * nNeurons);
  const fwdRates = new Float32Array(nTrials * nFwd * nNeurons);
  const behavior = new Float32Array(nTrials * nBins * 3);
  const conditions = new Int32Array(nTrials);
  const startStates: number[][] = [];

  const burn = new Float64Array(3 * (burnIn + 1));
  const traj = new Float64Array(3 * steps);
  const rateMs = new Float64Array(steps * nNeurons); // [ms, neuron]
  const binRate = new Float64Array(nAll * nNeurons); // expected count per bin
  const pMax = new Float64Array(nAll * nNeurons); // binary1ms: max spike prob. within the bin
  const binBehavior = new Float64Array(nBins * 3);
  const W = Float64Array.from(rows.flat());
  let trial = 0;
  for (let c = 0; c < nCond; c++) {
    // Initial state randn(3) + [0, 0, 25], burn-in, then the simulated window.
    const is = stream(foldIn(kInit, c));
    const x0 = [is.normal(), is.normal(), is.normal() + 25];
    integrate(x0, burnIn + 1, dyn, burn);
    const start = Array.from(burn.subarray(3 * burnIn, 3 * burnIn + 3));
    integrate(start, steps, dyn, traj);
    if (!traj.every(Number.isFinite)) {
      throw new DatasetError(
        `Lorenz condition ${c} diverged (variant ${dyn.variant}, dt ${dyn.dt}): ` +
          `choose a smaller dt or the other variant`,
      );
    }
    startStates.push(start);
    normalise(traj, steps);

    // Rates per ms and per bin.
    for (let t = 0; t < steps; t++) {
      const x = traj[3 * t], y = traj[3 * t + 1], z = traj[3 * t + 2];
      for (let n = 0; n < nNeurons; n++) {
        let lr = W[3 * n] * x + W[3 * n + 1] * y + W[3 * n + 2] * z + bias;
        lr = lr > LOG_RATE_CLIP ? LOG_RATE_CLIP : lr < -LOG_RATE_CLIP ? -LOG_RATE_CLIP : lr;
        rateMs[t * nNeurons + n] = spikes === "poisson" ? Math.exp(lr) : -Math.expm1(-Math.exp(lr));
      }
    }
    binRate.fill(0);
    pMax.fill(0);
    for (let t = 0; t < steps; t++) {
      const j = Math.floor(t / binMs) * nNeurons;
      for (let n = 0; n < nNeurons; n++) {
        const r = rateMs[t * nNeurons + n];
        binRate[j + n] += r;
        if (r > pMax[j + n]) pMax[j + n] = r;
      }
    }
    binBehavior.fill(0);
    for (let t = 0; t < nBins * binMs; t++) {
      const j = Math.floor(t / binMs) * 3;
      for (let d = 0; d < 3; d++) binBehavior[j + d] += traj[3 * t + d] / binMs;
    }

    for (let r = 0; r < perCond[c]; r++, trial++) {
      conditions[trial] = c;
      behavior.set(binBehavior, trial * nBins * 3);
      rates.set(binRate.subarray(0, nBins * nNeurons), trial * nBins * nNeurons);
      fwdRates.set(binRate.subarray(nBins * nNeurons), trial * nFwd * nNeurons);
      const ss = stream(foldIn(foldIn(kSpikes, c), r));
      for (let b = 0; b < nAll; b++) {
        const inTrial = b < nBins;
        const out = inTrial ? counts : fwdCounts;
        const base = inTrial
          ? (trial * nBins + b) * nNeurons
          : (trial * nFwd + b - nBins) * nNeurons;
        for (let n = 0; n < nNeurons; n++) {
          const j = b * nNeurons + n;
          out[base + n] = spikes === "poisson"
            ? ss.poisson(binRate[j])
            : binaryCount(ss, rateMs, { from: b * binMs * nNeurons + n, binMs, nNeurons }, pMax[j]);
        }
      }
    }
  }

  const shape = (b: number, d: number): Array3D["shape"] => [nTrials, b, d];
  return spikeDataset(
    {
      name,
      binSizeMs: binMs,
      counts: { data: counts, shape: shape(nBins, nNeurons) },
      forwardCounts: { data: fwdCounts, shape: shape(nFwd, nNeurons) },
      trueRates: { data: rates, shape: shape(nBins, nNeurons) },
      forwardTrueRates: { data: fwdRates, shape: shape(nFwd, nNeurons) },
      conditions,
      behavior: { data: behavior, shape: shape(nBins, 3) },
      behaviorNames: ["x", "y", "z"],
      meta: {
        generator: "lorenz (LFADS generateDemoDatasets.m recipe)",
        variant: dyn.variant,
        seed: k === undefined ? seed : null,
        key: [root[0], root[1]],
        conditions: nCond,
        trialsPerCondition: Array.isArray(tpc) ? [tpc[0], tpc[1]] : tpc,
        trialsPerConditionDrawn: perCond,
        neurons: nNeurons,
        bins: nBins,
        binSizeMs: binMs,
        forwardBins: nFwd,
        burnInSteps: burnIn,
        dt: dyn.dt,
        sigma: dyn.sigma,
        rho: dyn.rho,
        beta: dyn.beta,
        meanRateHz,
        logRateClip: LOG_RATE_CLIP,
        spikes,
        heldOutFraction,
        splitFractions: [...splitFractions],
        readout: rows,
        bias,
        startStates,
      },
    },
    { heldOutFraction, splitFractions, key: kSplits },
  );
}

/** Per dimension of `[steps, 3]`: subtract the mean over time, then divide by the max. */
function normalise(traj: Float64Array, steps: number): void {
  for (let d = 0; d < 3; d++) {
    let mean = 0;
    for (let t = 0; t < steps; t++) mean += traj[3 * t + d];
    mean /= steps;
    let max = -Infinity;
    for (let t = 0; t < steps; t++) {
      traj[3 * t + d] -= mean;
      if (traj[3 * t + d] > max) max = traj[3 * t + d];
    }
    const scale = max > 0 ? max : 1; // a constant dimension stays at 0
    for (let t = 0; t < steps; t++) traj[3 * t + d] /= scale;
  }
}

/**
 * Number of ms with a spike in one bin, each ms j spiking independently with probability
 * `p[from + j·nNeurons]` (already 1 − e^{−rate}). Exact: for low probabilities, candidate ms are
 * drawn at the bin's maximum probability `pMax` by geometric skips and each is kept with
 * probability p_j / pMax (thinning), which needs ~1 draw per quiet bin instead of `binMs`.
 */
function binaryCount(
  s: ReturnType<typeof stream>,
  p: Float64Array,
  at: { from: number; binMs: number; nNeurons: number },
  pMax: number,
): number {
  const { from, binMs, nNeurons } = at;
  let count = 0;
  if (pMax > 0.2) {
    for (let j = 0; j < binMs; j++) if (s.next() < p[from + j * nNeurons]) count++;
    return count;
  }
  const logQ = Math.log1p(-pMax);
  for (let j = -1;;) {
    j += 1 + Math.floor(Math.log(1 - s.next()) / logQ);
    if (j >= binMs) return count;
    if (s.next() * pMax < p[from + j * nNeurons]) count++;
  }
}
