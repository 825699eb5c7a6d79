/**
 * House style shared by every chart: one colour per model ({@linkcode MODEL_COLORS},
 * {@linkcode modelColor}, {@linkcode modelColorScale}) and number labels that never read
 * "−0.000" ({@linkcode formatFixed}, {@linkcode formatChange}).
 *
 * A model keeps its colour in every figure (accuracy vs energy, the real-data score bars, firing
 * rates), so a reader can follow it from one chart to the next; the mode a model runs in
 * (standard / spiking) is drawn with another channel (shape, opacity, or the bar's label), never
 * with colour. The named colours are from the Okabe–Ito palette, chosen to stay apart under the
 * common colour-vision deficiencies; the two baselines are greys, so trained models stand out.
 *
 * @module
 */

/**
 * Colour of each named model (canonical name → CSS colour). Names are matched case-insensitively,
 * with `-`, `_` and runs of spaces treated alike, through {@linkcode MODEL_ALIASES}; a trailing
 * parenthesis is ignored (`"hybrid (spiking)"` is the hybrid).
 *
 * @example
 * ```ts
 * import { MODEL_COLORS } from "@hest/hest";
 * MODEL_COLORS["hybrid"]; // "#009E73"
 * ```
 */
export const MODEL_COLORS: Readonly<Record<string, string>> = {
  "standard transformer": "#0072B2",
  "basic spiking transformer": "#D55E00",
  "hybrid": "#009E73",
  "hybrid-causal": "#CC79A7",
  "NDT reference code": "#E69F00",
  "smoothing + GLM": "#7F7F7F",
  "ridge": "#B8B8B8",
};

/**
 * Other spellings of the models of {@linkcode MODEL_COLORS} (normalised: lower case, `-` and `_`
 * as spaces) → canonical name: the variant names of the scripts (`"standard"`, `"basic"`), the
 * presets (`"spikformer"`) and the labels of the reports (`"smoothing + Poisson GLM"`,
 * `"raw-count ridge"`).
 *
 * @example
 * ```ts
 * import { MODEL_ALIASES } from "@hest/hest";
 * MODEL_ALIASES["spikformer"]; // "basic spiking transformer"
 * ```
 */
export const MODEL_ALIASES: Readonly<Record<string, string>> = {
  "standard": "standard transformer",
  "standard transformer": "standard transformer",
  "ndt": "standard transformer",
  "basic": "basic spiking transformer",
  "basic spiking": "basic spiking transformer",
  "basic spiking transformer": "basic spiking transformer",
  "spiking transformer": "basic spiking transformer",
  "spikformer": "basic spiking transformer",
  "hybrid": "hybrid",
  "hybrid causal": "hybrid-causal",
  "ndt reference code": "NDT reference code",
  "ndt peer": "NDT reference code",
  "causal hybrid": "hybrid-causal",
  "smoothing": "smoothing + GLM",
  "smoothing + glm": "smoothing + GLM",
  "smoothing + poisson glm": "smoothing + GLM",
  "ridge": "ridge",
  "raw count ridge": "ridge",
};

/**
 * Colours of models that {@linkcode MODEL_COLORS} does not name, in the order they are tried
 * (none of them is a named model's colour).
 *
 * @example
 * ```ts
 * import { FALLBACK_COLORS } from "@hest/hest";
 * FALLBACK_COLORS.length; // 8
 * ```
 */
export const FALLBACK_COLORS: readonly string[] = [
  "#882255",
  "#56B4E9",
  "#000000",
  "#8C564B",
  "#17BECF",
  "#BCBD22",
  "#9467BD",
  "#F0E442",
];

function normalise(name: string): string {
  return name.trim().toLowerCase().replace(/[\s_-]+/g, " ");
}

/**
 * The canonical name (a key of {@linkcode MODEL_COLORS}) of a model name, or `undefined` when
 * the model is not a named one.
 *
 * @example
 * ```ts
 * import { canonicalModel } from "@hest/hest";
 * canonicalModel("Hybrid_Causal"); // "hybrid-causal"
 * canonicalModel("hybrid (spiking)"); // "hybrid"
 * canonicalModel("my model"); // undefined
 * ```
 */
export function canonicalModel(name: string): string | undefined {
  const n = normalise(name);
  // "hybrid (spiking)", "hybrid (alternating)": the parenthesis qualifies the model, it is not
  // another model
  return MODEL_ALIASES[n] ?? MODEL_ALIASES[n.replace(/\s*\([^()]*\)$/, "")];
}

/** FNV-1a: a stable hash, so an unknown name gets the same fallback colour in every run. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The colour of one model: its {@linkcode MODEL_COLORS} entry, or for an unknown name one of
 * {@linkcode FALLBACK_COLORS} picked by a hash of the name (the same in every chart and run).
 * Two unknown names may share a fallback; {@linkcode modelColorScale} moves the later one along.
 *
 * @example
 * ```ts
 * import { modelColor } from "@hest/hest";
 * modelColor("standard"); // "#0072B2", as modelColor("standard transformer")
 * ```
 */
export function modelColor(name: string): string {
  const c = canonicalModel(name);
  if (c !== undefined) return MODEL_COLORS[c];
  return FALLBACK_COLORS[hash(normalise(name)) % FALLBACK_COLORS.length];
}

/**
 * A Vega-Lite colour scale (`domain`, `range`) for the model names of one chart: each named
 * model gets its {@linkcode modelColor}; an unknown one its hashed fallback, or, when an earlier
 * unknown name of the same chart already took that colour, the next free one of
 * {@linkcode FALLBACK_COLORS} (so two models never share a colour while the fallbacks last).
 * Duplicate names are kept once.
 *
 * @example
 * ```ts
 * import { modelColorScale } from "@hest/hest";
 * modelColorScale(["hybrid", "standard"]);
 * // { domain: ["hybrid", "standard"], range: ["#009E73", "#0072B2"] }
 * ```
 */
export function modelColorScale(names: readonly string[]): { domain: string[]; range: string[] } {
  const domain = [...new Set(names)];
  const used = new Set<string>();
  const range = domain.map((name) => {
    if (canonicalModel(name) !== undefined) return modelColor(name);
    const start = hash(normalise(name)) % FALLBACK_COLORS.length;
    for (let k = 0; k < FALLBACK_COLORS.length; k++) {
      const c = FALLBACK_COLORS[(start + k) % FALLBACK_COLORS.length];
      if (!used.has(c)) {
        used.add(c);
        return c;
      }
    }
    // more unknown models than fallbacks: repeating is the lesser evil than failing the figure
    return FALLBACK_COLORS[start];
  });
  return { domain, range };
}

// ---------------------------------------------------------------------------------------------
// number labels

const MINUS = "\u2212";

/**
 * `x` with `digits` decimals, as the axes print numbers: a typographic minus (−), and a value
 * that rounds to zero printed as plain `0.000` (never `−0.000` or `-0.000`).
 *
 * @example
 * ```ts
 * import { formatFixed } from "@hest/hest";
 * formatFixed(-0.0002, 3); // "0.000"
 * formatFixed(-0.25, 2); // "−0.25"
 * ```
 */
export function formatFixed(x: number, digits: number): string {
  const s = x.toFixed(digits);
  if (Number(s) === 0) return (0).toFixed(digits);
  return s.startsWith("-") ? MINUS + s.slice(1) : s;
}

/**
 * A change with its sign (`+0.100`, `−0.050`); a change that rounds to zero prints unsigned
 * (`0.000`), so a negligible step does not read as a gain or a loss.
 *
 * @example
 * ```ts
 * import { formatChange } from "@hest/hest";
 * formatChange(0.1, 3); // "+0.100"
 * formatChange(-0.00001, 3); // "0.000"
 * ```
 */
export function formatChange(x: number, digits: number): string {
  const s = formatFixed(x, digits);
  return Number(x.toFixed(digits)) > 0 ? `+${s}` : s;
}
