/**
 * Model configuration: the fields every model shares ({@linkcode TransformerConfig}), the hybrid
 * model's switches ({@linkcode HybridConfig}), and their validation with defaults filled in.
 *
 * @module
 */
import { type LifOptions, resolveLifOptions } from "../snn/neurons.ts";
import type { Mode } from "../nn/types.ts";
import { describe } from "../core/validation.ts";

/** NDT's local attention context (see {@linkcode TransformerConfig.context}). */
export interface ContextWindow {
  /** Bins back a query sees. */
  backward: number;
  /** Bins ahead a query sees. */
  forward: number;
  /**
   * What the forward-prediction window's queries see: `"local"` (default, NDT) the same band as
   * every bin, or `"all"` every bin of the trial and the window, so a forecast far past the
   * trial's end still reads the observed bins directly.
   */
  forecast?: "local" | "all";
}

/** The architecture fields shared by every model (the standard transformer's whole config). */
/**
 * Dropout rates a call can set in place of a model's configured ones (see
 * {@linkcode withDropoutRates}); each absent rate keeps the config's.
 *
 * @example
 * ```ts
 * import type { DropoutRates } from "@hest/hest";
 * const ndt: DropoutRates = { dropout: 0.1, embedDropout: 0.2, rateDropout: 0.2 };
 * ```
 */
export interface DropoutRates {
  /** Dropout after attention / feed-forward. */
  dropout?: number;
  /** Dropout on the embedded input. */
  embedDropout?: number;
  /** Dropout before the rate read-out. */
  rateDropout?: number;
}

const DROPOUT_RATE_KEYS = ["dropout", "embedDropout", "rateDropout"] as const;

/**
 * Check dropout rates and return a copy: a plain object of the keys `dropout`, `embedDropout`,
 * `rateDropout`, each a number in [0, 1). Unknown keys and bad values throw, naming `where` and
 * the key.
 *
 * @example
 * ```ts
 * import { checkDropoutRates } from "@hest/hest";
 * checkDropoutRates({ rateDropout: 0.2 }); // { rateDropout: 0.2 }
 * ```
 */
export function checkDropoutRates(
  rates: DropoutRates,
  opts: { where?: string } = {},
): DropoutRates {
  const where = opts.where ?? "dropout rates";
  if (rates === null || typeof rates !== "object" || Array.isArray(rates)) {
    throw new TypeError(
      `${where} must be an object of ${DROPOUT_RATE_KEYS.join(", ")}, found ${describe(rates)}`,
    );
  }
  const out: DropoutRates = {};
  for (const [k, v] of Object.entries(rates)) {
    if (!(DROPOUT_RATE_KEYS as readonly string[]).includes(k)) {
      throw new TypeError(
        `${where}: unknown key "${k}"; expected some of ${DROPOUT_RATE_KEYS.join(", ")}`,
      );
    }
    if (typeof v !== "number" || !(v >= 0 && v < 1)) {
      throw new RangeError(`${where}.${k} must be a number in [0, 1), found ${describe(v)}`);
    }
    out[k as keyof DropoutRates] = v;
  }
  return out;
}

/**
 * `config` with the dropout rates of `rates` (checked by {@linkcode checkDropoutRates}) in place
 * of its own.
 *
 * @example
 * ```ts
 * import { resolveTransformerConfig, withDropoutRates } from "@hest/hest";
 * const c = resolveTransformerConfig({ nInputs: 3, nOutputs: 4, bins: 10, dropout: 0 });
 * withDropoutRates(c, { dropout: 0.1 }).dropout; // 0.1
 * ```
 */
export function withDropoutRates<C extends ResolvedTransformerConfig>(
  config: C,
  rates: DropoutRates,
  opts: { where?: string } = {},
): C {
  return { ...config, ...checkDropoutRates(rates, opts) };
}

export interface TransformerConfig {
  /** Number of input (held-in) neurons. */
  nInputs: number;
  /** Number of output neurons (held-in + held-out). */
  nOutputs: number;
  /** Bins in the observed trial window. */
  bins: number;
  /** Bins of the forward-prediction window appended after the trial (default 0). */
  forwardBins?: number;
  /** Model width D (default 64). */
  dModel?: number;
  /** Number of blocks (default 2). */
  nLayers?: number;
  /** Attention heads (default 2). */
  nHeads?: number;
  /** Feed-forward width (default 4·D). */
  dFF?: number;
  /** Dropout after attention / feed-forward (default 0.1). */
  dropout?: number;
  /** Dropout on the embedded input (default 0.1). */
  embedDropout?: number;
  /** Dropout on the attention weights (default 0). */
  attnDropout?: number;
  /** Dropout before the rate read-out (default 0.1). */
  rateDropout?: number;
  /** Positional encoding: `"learned"` (default) or `"sinusoidal"`. */
  position?: "learned" | "sinusoidal";
  /** Local attention context (NDT): query i sees keys in [i − backward, i + forward]. */
  context?: ContextWindow;
  /** Input transform of counts: `"log1p"` (default) or `"none"`. */
  inputTransform?: "log1p" | "none";
  /** Initial read-out bias per output neuron (e.g. log mean count); default 0. */
  outputBias?: readonly number[];
}

/** A {@linkcode TransformerConfig} with every default filled in. */
export type ResolvedTransformerConfig =
  & Required<Omit<TransformerConfig, "context" | "outputBias">>
  & {
    context?: ContextWindow;
    outputBias?: readonly number[];
  };

/** The keys of a {@linkcode TransformerConfig}. */
export const TRANSFORMER_CONFIG_KEYS: readonly string[] = [
  "nInputs",
  "nOutputs",
  "bins",
  "forwardBins",
  "dModel",
  "nLayers",
  "nHeads",
  "dFF",
  "dropout",
  "embedDropout",
  "attnDropout",
  "rateDropout",
  "position",
  "context",
  "inputTransform",
  "outputBias",
];

function posInt(name: string, v: unknown, min = 1): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new Error(
      `model config "${name}" must be an integer >= ${min}, found ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function rate(name: string, v: unknown): number {
  if (typeof v !== "number" || !(v >= 0 && v < 1)) {
    throw new Error(
      `model config "${name}" must be a number in [0, 1), found ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/**
 * Validate a config and fill in defaults. Unknown keys and bad values throw, naming the key.
 *
 * @example
 * ```ts
 * import { resolveTransformerConfig } from "@hest/hest";
 * const c = resolveTransformerConfig({ nInputs: 20, nOutputs: 29, bins: 50 });
 * console.log(c.dModel); // 64
 * ```
 */
export function resolveTransformerConfig(config: TransformerConfig): ResolvedTransformerConfig {
  for (const k of Object.keys(config)) {
    if (!TRANSFORMER_CONFIG_KEYS.includes(k)) {
      throw new Error(
        `unknown model config key "${k}"; expected one of: ${TRANSFORMER_CONFIG_KEYS.join(", ")}`,
      );
    }
  }
  const dModel = posInt("dModel", config.dModel ?? 64);
  const nHeads = posInt("nHeads", config.nHeads ?? 2);
  if (dModel % nHeads !== 0) {
    throw new Error(`model config "dModel" (${dModel}) must be divisible by "nHeads" (${nHeads})`);
  }
  const position = config.position ?? "learned";
  if (position !== "learned" && position !== "sinusoidal") {
    throw new Error(
      `model config "position" must be "learned" or "sinusoidal", found "${position}"`,
    );
  }
  const inputTransform = config.inputTransform ?? "log1p";
  if (inputTransform !== "log1p" && inputTransform !== "none") {
    throw new Error(
      `model config "inputTransform" must be "log1p" or "none", found "${inputTransform}"`,
    );
  }
  const nOutputs = posInt("nOutputs", config.nOutputs);
  if (config.outputBias && config.outputBias.length !== nOutputs) {
    throw new Error(
      `model config "outputBias" has ${config.outputBias.length} values, expected nOutputs = ${nOutputs}`,
    );
  }
  if (config.context) {
    const { backward, forward, forecast, ...rest } = config.context;
    if (!(backward >= 0) || !(forward >= 0)) {
      throw new Error(`model config "context" needs backward >= 0 and forward >= 0`);
    }
    if (forecast !== undefined && forecast !== "local" && forecast !== "all") {
      throw new Error(
        `model config "context.forecast" must be "local" or "all", found ${
          JSON.stringify(forecast)
        }`,
      );
    }
    const extra = Object.keys(rest);
    if (extra.length) {
      throw new Error(
        `unknown model config key "context.${extra[0]}"; expected backward, forward, forecast`,
      );
    }
  }
  return {
    nInputs: posInt("nInputs", config.nInputs),
    nOutputs,
    bins: posInt("bins", config.bins),
    forwardBins: posInt("forwardBins", config.forwardBins ?? 0, 0),
    dModel,
    nLayers: posInt("nLayers", config.nLayers ?? 2),
    nHeads,
    dFF: posInt("dFF", config.dFF ?? 4 * dModel),
    dropout: rate("dropout", config.dropout ?? 0.1),
    embedDropout: rate("embedDropout", config.embedDropout ?? 0.1),
    attnDropout: rate("attnDropout", config.attnDropout ?? 0),
    rateDropout: rate("rateDropout", config.rateDropout ?? 0.1),
    position,
    context: config.context,
    inputTransform,
    outputBias: config.outputBias,
  };
}

/** Random spike masking (RSM) settings. */
export interface RsmConfig {
  /** Masking ratio p (probability a spike is dropped), one value or one per layer. */
  ratio: number | readonly number[];
  /**
   * `"random"` (MST): Bernoulli(1 − p) keep mask on Q, K and the attention map, no rescaling,
   * the same at training and inference. `"spatial"`: the ⌊p·D⌋ least significant channels of Q
   * and K are masked, significance = the channel's firing rate over (T, B, L) in this forward
   * pass. `"temporal"`: per trial, the ⌊p·L⌋ least significant bins of Q and K are masked,
   * significance = the bin's firing rate over (T, channels). Ties are broken by a jitter drawn
   * from the call's key (< one spike's weight), so masks are deterministic for a key.
   */
  mode?: "random" | "spatial" | "temporal";
}

/** CPG-PE settings. */
export interface CpgConfig {
  /** Number of CPG neurons (default 16; with `"add"` fusion it is the model width). */
  dims?: number;
  /** `"concat"` (default): [input; cpg] → embedding linear. `"add"`: cpg added to the embedding. */
  fusion?: "concat" | "add";
  /** Largest period scale (default 1e4). */
  wMax?: number;
  /** Firing threshold a (default 0.8). */
  threshold?: number;
}

/** TIM settings (see lib/snn/tim.ts). */
export interface TimConfig {
  /** Mixing weight α (default 0.5). */
  alpha?: number;
  /** Convolution kernel along bins (default 5). */
  kernel?: number;
  /** Input neuron threshold (default 0.3). */
  inThreshold?: number;
  /** Output neuron threshold (default 0.5). */
  outThreshold?: number;
}

/** Configuration of {@linkcode hybridTransformer}: the standard config plus the switches. */
export interface HybridConfig extends TransformerConfig {
  /** SNN timesteps T (default 4). */
  timesteps?: number;
  /** Attention kind (default `"dot"`). */
  attention?: "dot" | "conv";
  /** Kernel of the Q/K convolution (default 3). */
  convKernel?: number;
  /** Local attention window M (band |i − j| ≤ ⌊M/2⌋); default unlimited. */
  localWindow?: number;
  /** Causal attention and causal convolutions (forecasting); default false. */
  causal?: boolean;
  /** CPG positional encoding (default off). */
  cpg?: false | CpgConfig;
  /** Temporal interaction module on Q (default off). */
  tim?: false | TimConfig;
  /**
   * Spiking-mode residual (default `"add"`, Spikformer's SEW-ADD): SEW `"add" | "and" | "iand"`,
   * the membrane shortcut `"membrane"`, or `"plain"`, the non-SEW spiking residual that adds the
   * branch's normed output to the input spikes before a LIF (spikes of the sum; the baseline SEW
   * was designed to beat at depth).
   */
  residual?: "add" | "and" | "iand" | "membrane" | "plain";
  /** Random spike masking (default off). */
  rsm?: false | RsmConfig;
  /** LIF neuron settings (defaults: τ 2, threshold 1, hard reset, sigmoid α 4, detached reset). */
  lif?: Pick<
    LifOptions,
    "tau" | "vThreshold" | "vReset" | "levels" | "surrogate" | "detachReset"
  >;
  /** Threshold of the attention LIF (default 0.5, Spikformer). */
  attnThreshold?: number;
  /**
   * Scale of the softmax-free attention Q·Kᵀ·V (default 0.125, Spikformer's). The spike norm in
   * front of the attention LIF divides by the per-trial standard deviation, so the scale does not
   * set the LIF's input level as in Spikformer: it acts through the norm's ε (1e-5), i.e. how
   * strongly a nearly constant attention output is amplified. It changes training (gradients);
   * at initialisation the spikes are often the same for any scale.
   */
  ssaScale?: number;
  /** Encoding of the input over T: `"repeat"` (direct, default) or `"poisson"`. */
  encoding?: "repeat" | "poisson";
  /** Learned mask token replacing the embedding of masked bins (default true). */
  maskToken?: boolean;
  /** Modes this model is trained/used in (default both). */
  modes?: readonly Mode[];
  /**
   * Count likelihood: `"poisson"` (default) or `"negbinomial"`, which adds a learned per-neuron
   * log-dispersion `logTheta` (initialised at ln 10) to the parameters; the trainer then uses
   * the negative-binomial NLL.
   */
  likelihood?: "poisson" | "negbinomial";
  /**
   * Normalisation in front of every spiking-mode LIF: `"trial"` (default, `spikeNorm`: per trial
   * and channel, over the SNN timesteps and all bins of the trial), `"sample"`
   * (`sampleSpikeNorm`: per trial over the timesteps, bins and channels together, so each
   * channel keeps its level relative to the others; the `hybrid` preset's) or `"causal"`
   * (`causalSpikeNorm`: as `"trial"` over the bins up to each bin, so the spiking mode can
   * stream, see lib/infer/stream.ts).
   */
  norm?: "trial" | "causal" | "sample";
  /**
   * Initial gain of the norm at the end of each residual branch in spiking mode
   * (`blocks.i.sn.o.g`, `blocks.i.sn.ff2.g`): a finite number >= 0, default 1 (as before the
   * option existed). With the membrane shortcut that norm's output is what the branch adds to the
   * stream; with SEW residuals it drives the LIF whose spikes are added (AND-ed). A small gain
   * starts every block near the identity (a small addend; SEW branches that rarely fire), which
   * deep spiking models need: each spike norm divides the gradient by the standard deviation of
   * its sparse input, so with gain 1 the gradient grows by a factor per block on its way back
   * from the read-out (measured at width 32: about 1.3–2.7 per block with SEW ADD, 10 and more
   * with the membrane shortcut; 1e13 to overflow at 100 blocks). Gains of 0.1 (SEW ADD) and
   * 0.003 (membrane shortcut) keep that factor near 1 at 16–100 blocks (docs/depth.md). The
   * gains are learned: this sets the start only. The standard mode is not affected (its output
   * projections always start scaled by 1/√(2·nLayers)).
   */
  branchGain?: number;
}

/** A {@linkcode HybridConfig} with every default filled in. */
export interface ResolvedHybridConfig extends ResolvedTransformerConfig {
  /** SNN timesteps T. */
  timesteps: number;
  /** Attention kind. */
  attention: "dot" | "conv";
  /** Q/K convolution kernel. */
  convKernel: number;
  /** Local attention window, if any. */
  localWindow?: number;
  /** Causal attention and convolutions. */
  causal: boolean;
  /** CPG-PE settings, or false. */
  cpg: false | Required<CpgConfig>;
  /** TIM settings, or false. */
  tim: false | Required<TimConfig>;
  /** Spiking-mode residual. */
  residual: "add" | "and" | "iand" | "membrane" | "plain";
  /** RSM with one ratio per layer, or false. */
  rsm: false | { ratio: readonly number[]; mode: "random" | "spatial" | "temporal" };
  /** LIF options. */
  lif: LifOptions;
  /** Attention LIF threshold. */
  attnThreshold: number;
  /** Softmax-free attention scale. */
  ssaScale: number;
  /** Input encoding over T. */
  encoding: "repeat" | "poisson";
  /** Learned mask token in use. */
  maskToken: boolean;
  /** Supported modes. */
  modes: readonly Mode[];
  /** Count likelihood. */
  likelihood: "poisson" | "negbinomial";
  /** Spiking-mode normalisation. */
  norm: "trial" | "causal" | "sample";
  /**
   * Initial gain of each residual branch's last spike norm, as given (absent: 1). Left out rather
   * than filled in, so configs and saved run states from before the option stay identical.
   */
  branchGain?: number;
}

/** The keys a {@linkcode HybridConfig} adds to a {@linkcode TransformerConfig}. */
export const HYBRID_CONFIG_KEYS: readonly string[] = [
  "timesteps",
  "attention",
  "convKernel",
  "localWindow",
  "causal",
  "cpg",
  "tim",
  "residual",
  "rsm",
  "lif",
  "attnThreshold",
  "ssaScale",
  "encoding",
  "maskToken",
  "modes",
  "likelihood",
  "norm",
  "branchGain",
];

function fail(key: string, what: string, v: unknown): never {
  throw new Error(`model config "${key}" must be ${what}, found ${JSON.stringify(v)}`);
}

function checkKeys(where: string, obj: object, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw new Error(
        `unknown key "${k}" in model config "${where}"; expected one of: ${allowed.join(", ")}`,
      );
    }
  }
}

/**
 * Validate a hybrid config and fill in defaults; unknown keys and bad values throw.
 *
 * @example
 * ```ts
 * import { resolveHybridConfig } from "@hest/hest";
 * resolveHybridConfig({ nInputs: 20, nOutputs: 29, bins: 50, tim: {} }).tim; // { alpha: 0.5, … }
 * ```
 */
export function resolveHybridConfig(config: HybridConfig): ResolvedHybridConfig {
  // the standard fields are validated by the standard resolver, the switches below
  const base: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) if (!HYBRID_CONFIG_KEYS.includes(k)) base[k] = v;
  const c = resolveTransformerConfig(base as unknown as TransformerConfig);
  const h = config;
  const T = h.timesteps ?? 4;
  if (!Number.isInteger(T) || T < 1) fail("timesteps", "an integer >= 1", T);
  const attention = h.attention ?? "dot";
  if (attention !== "dot" && attention !== "conv") fail("attention", '"dot" or "conv"', attention);
  const convKernel = h.convKernel ?? 3;
  if (!Number.isInteger(convKernel) || convKernel < 1) {
    fail("convKernel", "an integer >= 1", convKernel);
  }
  if (h.localWindow !== undefined && (!Number.isInteger(h.localWindow) || h.localWindow < 1)) {
    fail("localWindow", "an integer >= 1", h.localWindow);
  }
  let cpg: ResolvedHybridConfig["cpg"] = false;
  if (h.cpg) {
    checkKeys("cpg", h.cpg, ["dims", "fusion", "wMax", "threshold"]);
    const fusion = h.cpg.fusion ?? "concat";
    if (fusion !== "concat" && fusion !== "add") fail("cpg.fusion", '"concat" or "add"', fusion);
    const dims = fusion === "add" ? c.dModel : h.cpg.dims ?? 16;
    if (!Number.isInteger(dims) || dims < 1) fail("cpg.dims", "an integer >= 1", dims);
    cpg = { dims, fusion, wMax: h.cpg.wMax ?? 1e4, threshold: h.cpg.threshold ?? 0.8 };
  }
  let tim: ResolvedHybridConfig["tim"] = false;
  if (h.tim) {
    checkKeys("tim", h.tim, ["alpha", "kernel", "inThreshold", "outThreshold"]);
    tim = {
      alpha: h.tim.alpha ?? 0.5,
      kernel: h.tim.kernel ?? 5,
      inThreshold: h.tim.inThreshold ?? 0.3,
      outThreshold: h.tim.outThreshold ?? 0.5,
    };
    if (!(tim.alpha >= 0 && tim.alpha <= 1)) fail("tim.alpha", "in [0, 1]", tim.alpha);
  }
  const residual = h.residual ?? "add";
  if (!["add", "and", "iand", "membrane", "plain"].includes(residual)) {
    fail("residual", '"add", "and", "iand", "membrane" or "plain"', residual);
  }
  let rsm: ResolvedHybridConfig["rsm"] = false;
  if (h.rsm) {
    checkKeys("rsm", h.rsm, ["ratio", "mode"]);
    const r = h.rsm.ratio;
    const ratio = typeof r === "number" ? Array(c.nLayers).fill(r) : [...(r ?? [])];
    if (ratio.length !== c.nLayers) {
      fail("rsm.ratio", `a number or ${c.nLayers} numbers (one per layer)`, r);
    }
    if (ratio.some((p) => !(p >= 0 && p <= 1))) fail("rsm.ratio", "in [0, 1]", r);
    const mode = h.rsm.mode ?? "random";
    if (!["random", "spatial", "temporal"].includes(mode)) {
      fail("rsm.mode", '"random", "spatial" or "temporal"', mode);
    }
    rsm = { ratio, mode };
  }
  if (h.lif) {
    checkKeys("lif", h.lif, ["tau", "vThreshold", "vReset", "levels", "surrogate", "detachReset"]);
  }
  const encoding = h.encoding ?? "repeat";
  if (encoding !== "repeat" && encoding !== "poisson") {
    fail("encoding", '"repeat" or "poisson"', encoding);
  }
  const modes = h.modes ?? ["standard", "spiking"];
  if (
    !Array.isArray(modes) || modes.length === 0 ||
    modes.some((m) => m !== "standard" && m !== "spiking")
  ) {
    fail("modes", 'a non-empty list of "standard" / "spiking"', modes);
  }
  const likelihood = h.likelihood ?? "poisson";
  if (likelihood !== "poisson" && likelihood !== "negbinomial") {
    fail("likelihood", '"poisson" or "negbinomial"', likelihood);
  }
  const norm = h.norm ?? "trial";
  if (norm !== "trial" && norm !== "causal" && norm !== "sample") {
    fail("norm", '"trial", "causal" or "sample"', norm);
  }
  const levels = h.lif?.levels;
  if (levels !== undefined && levels !== 1) {
    try {
      resolveLifOptions(h.lif);
    } catch (err) {
      throw new RangeError(`model config "lif": ${(err as Error).message}`);
    }
    if (residual === "and" || residual === "iand") {
      fail("lif.levels", `1 with residual "${residual}" (logic on binary spikes)`, levels);
    }
    if (tim) fail("lif.levels", "1 with tim (TIM's neurons fire binary spikes)", levels);
  }
  const gain = h.branchGain;
  if (gain !== undefined && !(typeof gain === "number" && Number.isFinite(gain) && gain >= 0)) {
    fail("branchGain", "a finite number >= 0", gain);
  }
  return {
    likelihood,
    norm,
    ...c,
    timesteps: T,
    attention,
    convKernel,
    localWindow: h.localWindow,
    causal: h.causal ?? false,
    cpg,
    tim,
    residual,
    rsm,
    lif: { ...(h.lif ?? {}) },
    attnThreshold: h.attnThreshold ?? 0.5,
    ssaScale: h.ssaScale ?? 0.125,
    encoding,
    maskToken: h.maskToken ?? true,
    modes,
    ...(gain === undefined ? {} : { branchGain: gain }),
  };
}
