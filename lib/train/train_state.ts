/**
 * The resumable training state `train` writes as `state.safetensors` beside the best
 * `checkpoint.safetensors`, so a run can continue after an interruption and end with exactly the
 * parameters an uninterrupted run would have.
 *
 * The file is plain safetensors (PyTorch users read it with `safetensors.torch.load_file`):
 *
 * - tensors `params.<path>` (the current parameters), `opt.mu.<path>` and `opt.nu.<path>` (the
 *   AdamW moments), once a validation has run, `best.<path>` (the best parameters so far) and,
 *   with the `emaDecay` option, `ema.<path>` (the parameter average);
 * - `__metadata__` (strings): `format` (`"hest-train-state/2"`), `step` (steps taken),
 *   `optStep` (AdamW's global step count; skipped steps do not advance it), `optParamSteps`
 *   (JSON object: each parameter path → the number of AdamW steps that updated it, PyTorch's
 *   per-parameter `state["step"]`), `bestScore`, `bestStep`,
 *   `sinceBest`, `lossSum`, `lossN` (the running training loss since the last validation),
 *   `stoppedEarly`, `standardFirst` (the standard-first part's steps), `emaUpdates` (with
 *   `ema.*`: the average's updates since it started), `seconds`, `history` (JSON
 *   of every validation record), `trainConfig`
 *   (canonical JSON of everything that decides the trajectory: options, model config and a data
 *   fingerprint) and the library versions of {@linkcode versionMetadata}, plus any caller
 *   metadata.
 *
 * Numbers are stored with JavaScript's shortest round-trip formatting, so every restored value
 * is bit-identical to the saved one.
 *
 * Files of format `hest-train-state/1` (one AdamW step count for all parameters) are refused:
 * with alternating training a parameter used by one mode only was updated in fewer steps than the
 * global count, and that number was not recorded, so it cannot be migrated exactly.
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };
import { tf } from "../core/backend.ts";
import { decodeSafetensors, encodeSafetensors } from "./checkpoint.ts";
import { writeFileAtomic } from "../core/io.ts";
import type { OptState } from "./optim.ts";
import { disposeTree, flatten, type Leaf, type Params, unflatten } from "../core/tree.ts";
import type { Mode } from "../nn/types.ts";

/** One validation record. */
export interface ValRecord {
  /** Step after which validation ran (1-based count of steps taken). */
  step: number;
  /** Validation score used for model selection (higher is better). */
  score: number;
  /** Which metric `score` is: `"coBps"`, `"fpBps"` or `"heldInBps"`. */
  metric: string;
  /** The score of each validated mode (`score` is their mean). */
  byMode: Partial<Record<Mode, number>>;
  /** Mean training loss since the previous validation. */
  trainLoss: number;
}

/**
 * Value of the `format` metadata key of a training-state file.
 *
 * @example
 * ```ts
 * import { TRAIN_STATE_FORMAT } from "@hest/hest";
 * TRAIN_STATE_FORMAT; // "hest-train-state/2"
 * ```
 */
export const TRAIN_STATE_FORMAT = "hest-train-state/2";

/** Format of the older files without per-parameter AdamW step counts (refused by the decoder). */
const OLD_FORMATS = ["hest-train-state/1"];

/**
 * The hest version (from `deno.json`).
 *
 * @example
 * ```ts
 * import { HEST_VERSION } from "@hest/hest";
 * console.log(HEST_VERSION); // "0.1.0"
 * ```
 */
export const HEST_VERSION: string = denoJson.version;

/** Everything `train` needs to continue a run exactly where it stopped. */
export interface TrainState {
  /** Steps taken so far (the next step to take, 0-based). */
  step: number;
  /** Current parameters. */
  params: Params;
  /** AdamW state: its global and per-parameter step counts and moments (same tree as `params`). */
  opt: OptState;
  /** Best parameters so far (absent before the first validation). */
  best?: Params;
  /** Best validation score so far (`-Infinity` before the first). */
  bestScore: number;
  /** Step of the best parameters. */
  bestStep: number;
  /** Validations since the best one (for early stopping). */
  sinceBest: number;
  /** Every validation so far. */
  history: ValRecord[];
  /** Sum of the training losses since the last validation. */
  lossSum: number;
  /** Number of losses in `lossSum`. */
  lossN: number;
  /** Whether early stopping ended the run. */
  stoppedEarly: boolean;
  /**
   * Steps of the standard-mode first part (`standardFirstFraction`), which ends sooner when its
   * validation stops improving; absent in files written before that rule (then as planned).
   */
  standardFirst?: number;
  /**
   * The step at which `standardFirstEarlyEnd: "restart"` with `restartDropout` discarded the
   * standard-first part and began the planned schedule again with those rates; absent when no
   * such restart happened.
   */
  restartedAt?: number;
  /** The parameter average of the `emaDecay` option (absent without it). */
  ema?: Params;
  /** Updates of `ema` since it started (with `ema`). */
  emaUpdates?: number;
  /** Training wall-clock seconds so far. */
  seconds: number;
  /** Canonical JSON of the options, model config and data fingerprint of the run. */
  trainConfig: string;
  /** Other string metadata (versions, caller metadata) as read from or written to the file. */
  metadata: Record<string, string>;
}

/**
 * Library versions and the active backend, as safetensors metadata strings: `hest` (from
 * `deno.json`), `tfjs` and `backend` (`"none"` before TF.js has picked one).
 *
 * @example
 * ```ts
 * import { versionMetadata } from "@hest/hest";
 * versionMetadata().hest; // "0.1.0"
 * ```
 */
export function versionMetadata(): { hest: string; tfjs: string; backend: string } {
  return { hest: HEST_VERSION, tfjs: tf.version.tfjs, backend: tf.getBackend() ?? "none" };
}

/**
 * JSON with object keys sorted at every level (so equal values give equal strings) and
 * non-finite numbers written as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "@hest/hest";
 * canonicalJson({ b: 1, a: [NaN] }); // '{"a":["NaN"],"b":1}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (Array.isArray(v)) return v.map(sortKeys);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>, sortKeys);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined && typeof x !== "function") out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

function reviveNumbers(_k: string, v: unknown): unknown {
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return v;
}

function prefixed(prefix: string, tree: Params): Leaf[] {
  return flatten(tree).map((l) => ({ path: `${prefix}.${l.path}`, tensor: l.tensor }));
}

/**
 * Serialise a {@linkcode TrainState} to safetensors bytes (see the module docs for the layout).
 * The state's tensors are read, not disposed.
 *
 * @example
 * ```ts
 * import { adamw, encodeTrainState, tf } from "@hest/hest";
 * const params = { w: tf.ones([2]) };
 * const bytes = await encodeTrainState({
 *   step: 0, params, opt: adamw().init(params), bestScore: -Infinity, bestStep: 0,
 *   sinceBest: 0, history: [], lossSum: 0, lossN: 0, stoppedEarly: false, seconds: 0,
 *   trainConfig: "{}", metadata: {},
 * });
 * ```
 */
export async function encodeTrainState(state: TrainState): Promise<Uint8Array> {
  const leaves = [
    ...prefixed("params", state.params),
    ...prefixed("opt.mu", state.opt.mu),
    ...prefixed("opt.nu", state.opt.nu),
    ...(state.best ? prefixed("best", state.best) : []),
    ...(state.ema ? prefixed("ema", state.ema) : []),
  ];
  const metadata: Record<string, string> = {
    ...state.metadata,
    ...versionMetadata(),
    format: TRAIN_STATE_FORMAT,
    step: String(state.step),
    optStep: String(state.opt.step),
    optParamSteps: canonicalJson(state.opt.paramSteps),
    bestScore: String(state.bestScore),
    bestStep: String(state.bestStep),
    sinceBest: String(state.sinceBest),
    lossSum: String(state.lossSum),
    lossN: String(state.lossN),
    stoppedEarly: String(state.stoppedEarly),
    ...(state.standardFirst === undefined ? {} : { standardFirst: String(state.standardFirst) }),
    ...(state.restartedAt === undefined ? {} : { restartedAt: String(state.restartedAt) }),
    ...(state.ema ? { emaUpdates: String(state.emaUpdates ?? 0) } : {}),
    seconds: String(state.seconds),
    history: canonicalJson(state.history),
    trainConfig: state.trainConfig,
  };
  return await encodeSafetensors(unflatten(leaves), { metadata });
}

/**
 * Parse safetensors bytes written by {@linkcode encodeTrainState}. Every problem (not a
 * safetensors file, wrong `format`, a missing or malformed metadata key, moments whose paths or
 * shapes differ from the parameters) throws an error naming `where` and the key; no tensor is
 * left allocated on error. The returned tensors are owned by the caller.
 *
 * @example
 * ```ts
 * import { decodeTrainState } from "@hest/hest";
 * // const state = decodeTrainState(await Deno.readFile("runs/x/state.safetensors"));
 * ```
 */
export function decodeTrainState(bytes: Uint8Array, where = "training state"): TrainState {
  let decoded;
  try {
    decoded = decodeSafetensors(bytes);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
  const { params: tree, metadata } = decoded;
  try {
    if (OLD_FORMATS.includes(metadata.format)) {
      throw new Error(
        `expected metadata "format" = "${TRAIN_STATE_FORMAT}", found ${
          JSON.stringify(metadata.format)
        }: the state is from an older version of hest, which kept one AdamW step count for all ` +
          "parameters; this version counts steps per parameter (PyTorch semantics) and the old " +
          "file does not hold those counts, so it cannot be resumed exactly. Start the run again",
      );
    }
    if (metadata.format !== TRAIN_STATE_FORMAT) {
      throw new Error(
        `expected metadata "format" = "${TRAIN_STATE_FORMAT}", found ${
          metadata.format === undefined ? "none" : JSON.stringify(metadata.format)
        } (not a hest training-state file)`,
      );
    }
    const num = (k: string, int: boolean): number => {
      const s = metadata[k];
      const v = s === undefined ? NaN : Number(s);
      const ok = int ? Number.isSafeInteger(v) && v >= 0 : !Number.isNaN(v) || s === "NaN";
      if (s === undefined || !ok) {
        throw new Error(
          `expected metadata "${k}" to be ${int ? "an integer >= 0" : "a number"}, found ${
            s === undefined ? "none" : JSON.stringify(s)
          }`,
        );
      }
      return v;
    };
    const subtree = (name: string): Params | undefined => {
      const v = name.split(".").reduce<unknown>(
        (t, k) =>
          (t && typeof t === "object" && !(t instanceof tf.Tensor)) ? (t as Params)[k] : undefined,
        tree,
      );
      if (v instanceof tf.Tensor) throw new Error(`expected "${name}" to be a tree of tensors`);
      return v as Params | undefined;
    };
    const params = subtree("params");
    const mu = subtree("opt.mu"), nu = subtree("opt.nu"), best = subtree("best");
    const ema = subtree("ema");
    if (!params || !mu || !nu) {
      throw new Error(
        `expected tensors "params.*", "opt.mu.*" and "opt.nu.*", found top-level names ${
          Object.keys(tree).join(", ") || "none"
        }`,
      );
    }
    const layout = flatten(params);
    const others = [["opt.mu", mu], ["opt.nu", nu], ["best", best], ["ema", ema]] as const;
    for (const [name, t] of others) {
      if (!t) continue;
      const other = flatten(t);
      const same = other.length === layout.length &&
        other.every((l, i) =>
          l.path === layout[i].path &&
          l.tensor.shape.length === layout[i].tensor.shape.length &&
          l.tensor.shape.every((d, j) => d === layout[i].tensor.shape[j])
        );
      if (!same) {
        throw new Error(`expected "${name}.*" to have the same paths and shapes as "params.*"`);
      }
    }
    const optStep = num("optStep", true);
    const paramSteps = parseParamSteps(metadata.optParamSteps, layout, optStep);
    const stopped = metadata.stoppedEarly;
    if (stopped !== "true" && stopped !== "false") {
      throw new Error(
        `expected metadata "stoppedEarly" to be "true" or "false", found ${
          JSON.stringify(stopped ?? "none")
        }`,
      );
    }
    let history: ValRecord[];
    try {
      history = JSON.parse(metadata.history ?? "", reviveNumbers);
    } catch {
      throw new Error(`expected metadata "history" to be a JSON array of validation records`);
    }
    if (!Array.isArray(history)) {
      throw new Error(`expected metadata "history" to be a JSON array of validation records`);
    }
    if (typeof metadata.trainConfig !== "string") {
      throw new Error(`expected metadata "trainConfig", found none`);
    }
    const known = new Set([
      "format",
      "step",
      "optStep",
      "optParamSteps",
      "bestScore",
      "bestStep",
      "sinceBest",
      "lossSum",
      "lossN",
      "stoppedEarly",
      "standardFirst",
      "restartedAt",
      "emaUpdates",
      "seconds",
      "history",
      "trainConfig",
    ]);
    const used = new Set<tf.Tensor>(
      [params, mu, nu, best, ema].flatMap((t) => t ? flatten(t).map((l) => l.tensor) : []),
    );
    const state: TrainState = {
      step: num("step", true),
      params,
      opt: { step: optStep, paramSteps, mu, nu },
      best,
      bestScore: num("bestScore", false),
      bestStep: num("bestStep", true),
      sinceBest: num("sinceBest", true),
      history,
      lossSum: num("lossSum", false),
      lossN: num("lossN", true),
      stoppedEarly: stopped === "true",
      ...(metadata.standardFirst === undefined
        ? {}
        : { standardFirst: num("standardFirst", true) }),
      ...(metadata.restartedAt === undefined ? {} : { restartedAt: num("restartedAt", true) }),
      ...(ema ? { ema, emaUpdates: num("emaUpdates", true) } : {}),
      seconds: num("seconds", false),
      trainConfig: metadata.trainConfig,
      metadata: Object.fromEntries(Object.entries(metadata).filter(([k]) => !known.has(k))),
    };
    for (const l of flatten(tree)) if (!used.has(l.tensor)) l.tensor.dispose();
    return state;
  } catch (err) {
    disposeTree(tree);
    throw new Error(`${where}: ${(err as Error).message}`);
  }
}

/**
 * The `optParamSteps` metadata: a JSON object with one integer in [0, optStep] per parameter
 * path of `layout`, nothing else.
 */
function parseParamSteps(
  s: string | undefined,
  layout: Leaf[],
  optStep: number,
): Record<string, number> {
  const expected = `metadata "optParamSteps" to be a JSON object of integer step counts in ` +
    `[0, ${optStep}], one per parameter path`;
  if (s === undefined) throw new Error(`expected ${expected}, found none`);
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    throw new Error(`expected ${expected}, found ${JSON.stringify(s)}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new Error(`expected ${expected}, found ${JSON.stringify(s)}`);
  }
  const rec = v as Record<string, unknown>;
  const paths = layout.map((l) => l.path);
  const missing = paths.filter((p) => !(p in rec));
  const extra = Object.keys(rec).filter((k) => !paths.includes(k));
  if (missing.length || extra.length) {
    throw new Error(
      `expected ${expected}, found ` + [
        missing.length ? `missing ${missing.map((p) => `"${p}"`).join(", ")}` : "",
        extra.length ? `unexpected ${extra.map((p) => `"${p}"`).join(", ")}` : "",
      ].filter(Boolean).join("; "),
    );
  }
  const out: Record<string, number> = {};
  for (const p of paths) {
    const n = rec[p];
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0 || n > optStep) {
      throw new Error(`expected ${expected}, found ${JSON.stringify(n)} for "${p}"`);
    }
    out[p] = n;
  }
  return out;
}

/**
 * Write a {@linkcode TrainState} to `path` atomically (temp file + rename).
 *
 * @example
 * ```ts
 * import { saveTrainState } from "@hest/hest";
 * // await saveTrainState("runs/x/state.safetensors", state);
 * ```
 */
export async function saveTrainState(path: string, state: TrainState): Promise<void> {
  await writeFileAtomic(path, await encodeTrainState(state));
}

/**
 * Read a training-state file; errors name the file (a missing file says so).
 *
 * @example
 * ```ts
 * import { loadTrainState } from "@hest/hest";
 * // const state = await loadTrainState("runs/x/state.safetensors");
 * ```
 */
export async function loadTrainState(path: string): Promise<TrainState> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw new Error(`${path}: cannot read the training state: ${(err as Error).message}`);
  }
  return decodeTrainState(bytes, path);
}

/**
 * Dispose every tensor of a {@linkcode TrainState} (parameters, moments, best, average).
 *
 * @example
 * ```ts
 * import { disposeTrainState } from "@hest/hest";
 * // disposeTrainState(state);
 * ```
 */
export function disposeTrainState(state: TrainState): void {
  disposeTree(state.params);
  disposeTree(state.opt.mu);
  disposeTree(state.opt.nu);
  if (state.best) disposeTree(state.best);
  if (state.ema) disposeTree(state.ema);
}
