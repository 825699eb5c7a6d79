/**
 * Sweeps: a JSON spec (a base run config, a grid of values and/or a seeded random search over
 * config paths, an optional ensemble) expanded into independent tasks, each one run folder.
 *
 * {@linkcode parseSweepSpec} checks a spec strictly, {@linkcode expandSweep} turns it into
 * {@linkcode SweepTask}s with stable ids (readable parts plus a hash of the run config), and
 * named `cases` (partial run configs, e.g. an experiment's variants) are crossed with the grid;
 * {@linkcode writeSweepTasks} writes them to `<out>/tasks.jsonl` (one task per line) next to
 * `<out>/spec.json`. `runSweepTask` (`sweep_task.ts`) runs one task into `<out>/runs/<id>/`.
 * Tasks share nothing but the output folder, so any scheduler can run them: the local process
 * pool and the Slurm job array of `sweep_slurm.ts`, or `--task-index N` by hand.
 *
 * @module
 */
import { writeFileAtomic, writeJsonAtomic } from "../core/io.ts";
import { canonicalJson } from "../train/train_state.ts";
import { type DataSpec, type RunConfig, RunFolderError, type TrainOverrides } from "./run.ts";
import type { ModelPreset } from "./presets.ts";

/** The run config fields a sweep spec's `base` may set (all optional; defaults as `deno task train`). */
export interface SweepBase {
  /** Data (default the Lorenz set). */
  data?: DataSpec;
  /** Preset (default `"standard"`). */
  preset?: string;
  /** Architecture overrides. */
  model?: ModelPreset;
  /** Training overrides. */
  train?: TrainOverrides;
  /** Seed (default 0). */
  seed?: number;
  /** TF.js backend (default `"wasm"`). */
  backend?: string;
}

/**
 * How a random search draws one config path: exactly one of `logUniform`, `uniform` (`[low,
 * high]`) or `choice` (a list); `integer: true` rounds a numeric draw to an integer.
 */
export interface SweepRange {
  /** Log-uniform between two positive bounds. */
  logUniform?: [number, number];
  /** Uniform between two bounds. */
  uniform?: [number, number];
  /** One of these values, each equally likely. */
  choice?: unknown[];
  /** Round numeric draws to integers (bounds inclusive). */
  integer?: boolean;
}

/** A seeded random search: `n` samples, each path drawn from its range. */
export interface SweepRandom {
  /** Number of samples. */
  n: number;
  /** Seed of the draws (default 0). */
  seed?: number;
  /** Config path → range. */
  params: Record<string, SweepRange>;
}

/**
 * One named case of a sweep: a partial run config laid over the base. `data`, `preset`, `seed`
 * and `backend` replace the base's; the keys of `model` and `train` replace the base's keys of
 * the same name (the others stay), as an experiment variant's overrides do.
 */
export interface SweepCase extends SweepBase {
  /** Name: letters, digits, `_`, `.` or `-`; leads the task ids and is each task's `case`. */
  name: string;
  /** Label for tables and figures (not part of the run config). */
  label?: string;
}

/** A sweep: base config, cases, grid and/or random search, optional ensemble. */
export interface SweepSpec {
  /** Settings every task starts from. */
  base: SweepBase;
  /** Named partial run configs, each crossed with every grid cell and random sample. */
  cases?: SweepCase[];
  /** Config path → values; every combination is a task. */
  grid?: Record<string, unknown[]>;
  /** Random search, crossed with every grid cell. */
  random?: SweepRandom;
  /** Average the predicted rates of the `top` runs by validation co-bps (per mode). */
  ensemble?: { top: number };
}

/** One task of a sweep: a run config and the swept values that made it. */
export interface SweepTask {
  /** Position in `tasks.jsonl` (the Slurm array index). */
  index: number;
  /** Stable id: readable swept values plus a hash of the config; the run folder's name. */
  id: string;
  /** Name of the task's case (sweeps with `cases` only). */
  case?: string;
  /** Swept config path → value of this task. */
  params: Record<string, unknown>;
  /** The full run config. */
  config: RunConfig;
}

/**
 * The top-level keys of a run config; a swept path starts with one of them.
 *
 * @example
 * ```ts
 * import { SWEEP_PATH_ROOTS } from "@hest/hest";
 * SWEEP_PATH_ROOTS.includes("train"); // true: "train.lr" can be swept
 * ```
 */
export const SWEEP_PATH_ROOTS: readonly string[] = [
  "data",
  "preset",
  "model",
  "train",
  "seed",
  "backend",
];

const PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function checkKeys(where: string, v: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (!isObject(v)) throw new TypeError(`${where}: expected a JSON object, found ${describe(v)}`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) {
      throw new TypeError(`${where}: unknown key "${k}"; expected one of: ${allowed.join(", ")}`);
    }
  }
  return v;
}

function checkPath(where: string, path: string): void {
  if (!PATH.test(path) || !SWEEP_PATH_ROOTS.includes(path.split(".")[0])) {
    throw new TypeError(
      `${where}: "${path}" is not a config path; expected dot-separated keys starting with one ` +
        `of ${SWEEP_PATH_ROOTS.join(", ")} (e.g. "train.lr", "model.dModel", "data.path", "seed")`,
    );
  }
}

function finitePair(where: string, v: unknown): [number, number] {
  if (
    !Array.isArray(v) || v.length !== 2 || v.some((x) => typeof x !== "number" || !isFinite(x))
  ) {
    throw new TypeError(`${where}: expected [low, high], two finite numbers, found ${describe(v)}`);
  }
  if (!(v[0] < v[1])) {
    throw new RangeError(`${where}: expected low < high, found [${v[0]}, ${v[1]}]`);
  }
  return [v[0], v[1]];
}

function checkRange(where: string, v: unknown): SweepRange {
  const r = checkKeys(where, v, ["logUniform", "uniform", "choice", "integer"]);
  const kinds = ["logUniform", "uniform", "choice"].filter((k) => r[k] !== undefined);
  if (kinds.length !== 1) {
    throw new TypeError(
      `${where}: expected exactly one of "logUniform", "uniform", "choice", found ` +
        (kinds.length ? kinds.map((k) => `"${k}"`).join(" and ") : "none"),
    );
  }
  if (r.integer !== undefined && typeof r.integer !== "boolean") {
    throw new TypeError(`${where}.integer: expected true or false, found ${describe(r.integer)}`);
  }
  if (r.choice !== undefined) {
    if (!Array.isArray(r.choice) || r.choice.length === 0) {
      throw new TypeError(
        `${where}.choice: expected a non-empty list, found ${describe(r.choice)}`,
      );
    }
    if (r.integer) throw new TypeError(`${where}: "integer" applies to uniform/logUniform only`);
    checkDistinct(`${where}.choice`, r.choice);
    return { choice: [...r.choice] };
  }
  const kind = kinds[0] as "logUniform" | "uniform";
  const [lo, hi] = finitePair(`${where}.${kind}`, r[kind]);
  if (kind === "logUniform" && lo <= 0) {
    throw new RangeError(`${where}.logUniform: expected positive bounds, found [${lo}, ${hi}]`);
  }
  if (r.integer && (!Number.isInteger(lo) || !Number.isInteger(hi))) {
    throw new RangeError(
      `${where}.${kind}: integer draws need integer bounds, found [${lo}, ${hi}]`,
    );
  }
  return { [kind]: [lo, hi], ...(r.integer ? { integer: true } : {}) };
}

function checkDistinct(where: string, values: readonly unknown[]): void {
  const seen = new Map<string, number>();
  values.forEach((v, i) => {
    if (v === null || v === undefined) {
      throw new TypeError(`${where}[${i}]: expected a value, found ${describe(v)}`);
    }
    const k = canonicalJson(v);
    if (seen.has(k)) {
      throw new RangeError(`${where}: values [${seen.get(k)}] and [${i}] are both ${describe(v)}`);
    }
    seen.set(k, i);
  });
}

const CASE_NAME = /^[A-Za-z0-9_.-]+$/;

/** Check one entry of `cases`: a name, an optional label and run-config fields. */
function checkCase(where: string, v: unknown): SweepCase {
  const c = checkKeys(where, v, ["name", "label", ...SWEEP_PATH_ROOTS]);
  if (typeof c.name !== "string" || !CASE_NAME.test(c.name)) {
    throw new TypeError(
      `${where}.name: expected a name of letters, digits, "_", "." or "-", found ${
        describe(c.name)
      }`,
    );
  }
  if (c.label !== undefined && typeof c.label !== "string") {
    throw new TypeError(`${where}.label: expected a string, found ${describe(c.label)}`);
  }
  // model and train are merged key by key over the base's, so they must be objects
  for (const k of ["data", "model", "train"]) {
    if (c[k] !== undefined && !isObject(c[k])) {
      throw new TypeError(`${where}.${k}: expected a JSON object, found ${describe(c[k])}`);
    }
  }
  return structuredClone(c) as unknown as SweepCase;
}

/** The config paths a case sets: its replaced roots, and `model.<key>` / `train.<key>`. */
function casePaths(c: SweepCase): string[] {
  const paths: string[] = [];
  for (const root of SWEEP_PATH_ROOTS) {
    const v = (c as unknown as Record<string, unknown>)[root];
    if (v === undefined) continue;
    if (root === "model" || root === "train") {
      paths.push(...Object.keys(v as object).map((k) => `${root}.${k}`));
    } else paths.push(root);
  }
  return paths;
}

/**
 * Check a sweep spec (parsed JSON) strictly and return it typed: unknown keys, paths that are not
 * config paths, a path swept twice (or inside another swept path), empty or repeated grid
 * values, bad ranges, unnamed or repeated cases and a case setting a swept path are refused with a `TypeError` or `RangeError` naming the key, what it
 * expected and what it found. The run configs themselves are checked by {@linkcode expandSweep}.
 *
 * @example
 * ```ts
 * import { parseSweepSpec } from "@hest/hest";
 * const spec = parseSweepSpec({
 *   base: { preset: "tiny", train: { steps: 20 } },
 *   grid: { seed: [0, 1], "train.lr": [1e-3, 3e-3] },
 *   random: { n: 2, params: { "model.dModel": { choice: [16, 32] } } },
 *   ensemble: { top: 2 },
 * });
 * ```
 */
export function parseSweepSpec(raw: unknown, opts: { source?: string } = {}): SweepSpec {
  const at = opts.source ? `${opts.source}: ` : "";
  const r = checkKeys(`${at}sweep spec`, raw, ["base", "cases", "grid", "random", "ensemble"]);
  const base = checkKeys(`${at}"base"`, r.base ?? {}, SWEEP_PATH_ROOTS);
  const spec: SweepSpec = { base: structuredClone(base) as SweepBase };
  const swept: string[] = [];
  if (r.grid !== undefined) {
    const g = checkKeys(`${at}"grid"`, r.grid, Object.keys(isObject(r.grid) ? r.grid : {}));
    if (Object.keys(g).length === 0) {
      throw new TypeError(`${at}"grid": expected at least one config path, found {}`);
    }
    spec.grid = {};
    for (const [path, values] of Object.entries(g)) {
      checkPath(`${at}"grid"`, path);
      if (!Array.isArray(values) || values.length === 0) {
        throw new TypeError(
          `${at}"grid"."${path}": expected a non-empty list of values, found ${describe(values)}`,
        );
      }
      checkDistinct(`${at}"grid"."${path}"`, values);
      spec.grid[path] = structuredClone(values);
      swept.push(path);
    }
  }
  if (r.random !== undefined) {
    const rnd = checkKeys(`${at}"random"`, r.random, ["n", "seed", "params"]);
    if (!Number.isSafeInteger(rnd.n) || (rnd.n as number) < 1) {
      throw new RangeError(`${at}"random".n: expected an integer >= 1, found ${describe(rnd.n)}`);
    }
    if (rnd.seed !== undefined && !Number.isSafeInteger(rnd.seed)) {
      throw new TypeError(`${at}"random".seed: expected an integer, found ${describe(rnd.seed)}`);
    }
    const params = checkKeys(
      `${at}"random".params`,
      rnd.params,
      Object.keys(isObject(rnd.params) ? rnd.params : {}),
    );
    if (Object.keys(params).length === 0) {
      throw new TypeError(`${at}"random".params: expected at least one config path, found {}`);
    }
    const out: Record<string, SweepRange> = {};
    for (const [path, range] of Object.entries(params)) {
      checkPath(`${at}"random".params`, path);
      if (swept.includes(path)) {
        throw new TypeError(`${at}"${path}" is swept by both "grid" and "random"; pick one`);
      }
      out[path] = checkRange(`${at}"random".params."${path}"`, range);
      swept.push(path);
    }
    spec.random = { n: rnd.n as number, seed: (rnd.seed as number | undefined) ?? 0, params: out };
  }
  for (const a of swept) {
    for (const b of swept) {
      if (b.startsWith(`${a}.`)) {
        throw new TypeError(`${at}"${b}" lies inside the swept path "${a}"; sweep one of them`);
      }
    }
  }
  if (r.cases !== undefined) {
    if (!Array.isArray(r.cases) || r.cases.length === 0) {
      throw new TypeError(
        `${at}"cases": expected a non-empty list of {"name", ...run config}, found ${
          describe(r.cases)
        }`,
      );
    }
    const cases = r.cases.map((c, i) => checkCase(`${at}"cases"[${i}]`, c));
    const seen = new Map<string, number>();
    cases.forEach((c, i) => {
      if (seen.has(c.name)) {
        throw new RangeError(
          `${at}"cases"[${
            seen.get(c.name)
          }] and [${i}] are both named "${c.name}"; names must differ`,
        );
      }
      seen.set(c.name, i);
      // a case and the grid (or search) setting the same value: which should win is unclear
      for (const p of casePaths(c)) {
        const clash = swept.find((q) => q === p || q.startsWith(`${p}.`) || p.startsWith(`${q}.`));
        if (clash !== undefined) {
          throw new TypeError(
            `${at}"cases"[${i}] ("${c.name}") sets "${p}", which the sweep also varies ("${clash}"); ` +
              `set it in the cases or sweep it, not both`,
          );
        }
      }
    });
    spec.cases = cases;
  }
  if (r.ensemble !== undefined) {
    const e = checkKeys(`${at}"ensemble"`, r.ensemble, ["top"]);
    if (!Number.isSafeInteger(e.top) || (e.top as number) < 1) {
      throw new RangeError(
        `${at}"ensemble".top: expected an integer >= 1, found ${describe(e.top)}`,
      );
    }
    spec.ensemble = { top: e.top as number };
  }
  return spec;
}

/**
 * The swept config paths of a spec: the grid's, then the random search's.
 *
 * @example
 * ```ts
 * import { parseSweepSpec, sweptPaths } from "@hest/hest";
 * const spec = parseSweepSpec({
 *   base: {},
 *   grid: { seed: [0, 1] },
 *   random: { n: 4, params: { "train.lr": { logUniform: [1e-4, 1e-2] } } },
 * });
 * sweptPaths(spec); // ["seed", "train.lr"]
 * ```
 */
export function sweptPaths(spec: SweepSpec): string[] {
  return [...Object.keys(spec.grid ?? {}), ...Object.keys(spec.random?.params ?? {})];
}

/** 32-bit FNV-1a of a string: seeds one random stream per (seed, path). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** mulberry32: a small seeded generator of uniforms in [0, 1). */
function uniforms(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The random search's samples: `n` records of path → value. Each path has its own stream (seeded
 * by the search seed and the path), so adding a path leaves the other paths' draws unchanged;
 * continuous draws keep 6 significant digits, so ids and JSON stay short.
 */
function randomSamples(r: SweepRandom): Record<string, unknown>[] {
  const samples: Record<string, unknown>[] = Array.from({ length: r.n }, () => ({}));
  for (const [path, range] of Object.entries(r.params)) {
    const u = uniforms(fnv1a(`${r.seed ?? 0}:${path}`));
    for (const s of samples) {
      const x = u();
      if (range.choice) {
        s[path] = structuredClone(range.choice[Math.floor(x * range.choice.length)]);
      } else if (range.uniform) {
        const [lo, hi] = range.uniform;
        s[path] = range.integer
          ? Math.min(hi, lo + Math.floor(x * (hi - lo + 1)))
          : Number((lo + x * (hi - lo)).toPrecision(6));
      } else {
        const [lo, hi] = range.logUniform!;
        const v = Math.exp(Math.log(lo) + x * (Math.log(hi) - Math.log(lo)));
        s[path] = range.integer
          ? Math.min(hi, Math.max(lo, Math.round(v)))
          : Number(v.toPrecision(6));
      }
    }
  }
  return samples;
}

/** Set `path` in `obj` (a fresh copy of the base), creating objects on the way. */
function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let o = obj;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i];
    if (o[k] === undefined) o[k] = {};
    if (!isObject(o[k])) {
      throw new TypeError(
        `cannot set "${path}": "${keys.slice(0, i + 1).join(".")}" is ${
          describe(o[k])
        }, not an object`,
      );
    }
    o = o[k] as Record<string, unknown>;
  }
  o[keys[keys.length - 1]] = structuredClone(value);
}

/** A readable, file-name-safe piece of a task id for one swept value ("" for objects). */
function idPart(path: string, value: unknown): string {
  const name = path.split(".").pop()!;
  let v: string;
  if (typeof value === "number" || typeof value === "boolean") v = String(value);
  else if (typeof value === "string") {
    // a file path reads best as its base name without the extension
    v = value.includes("/")
      ? value.replace(/\/+$/, "").split("/").pop()!.replace(/\.[^.]*$/, "")
      : value;
  } else return "";
  return `${name}${v}`.replace(/[^A-Za-z0-9.+-]+/g, "_");
}

/**
 * Hex SHA-256 of a string (the task-id hash, the tasks-file digest).
 *
 * @example
 * ```ts
 * import { sha256Hex } from "@hest/hest";
 * (await sha256Hex("hest")).length; // 64
 * ```
 */
export async function sha256Hex(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The stable id of a task: the case name (if any) and the swept values made readable
 * (`conv_seed1`, `lr0.001_seed1`; at most 60 characters; the preset name when nothing readable
 * is swept), a dash and the first 8 hex digits of the SHA-256 of the run config's canonical JSON.
 * The same config always gets the same id, on any machine.
 *
 * @example
 * ```ts
 * import { sweepTaskId } from "@hest/hest";
 * const cfg = { data: { kind: "lorenz" as const }, preset: "tiny", seed: 1, backend: "wasm" };
 * await sweepTaskId(cfg, { seed: 1 }); // "seed1-" + 8 hex digits
 * await sweepTaskId(cfg, { seed: 1 }, { case: "tiny" }); // "tiny_seed1-" + 8 hex digits
 * ```
 */
export async function sweepTaskId(
  config: RunConfig,
  params: Record<string, unknown>,
  opts: { case?: string } = {},
): Promise<string> {
  const parts = Object.entries(params).map(([p, v]) => idPart(p, v));
  const readable = [opts.case ?? "", ...parts].filter((s) => s).join("_")
    .slice(0, 60).replace(/_+$/, "");
  const hash = (await sha256Hex(canonicalJson(config))).slice(0, 8);
  return `${readable || config.preset.replace(/[^A-Za-z0-9.+-]+/g, "_")}-${hash}`;
}

/** Options of {@linkcode expandSweep}. */
export interface ExpandSweepOptions {
  /**
   * Checks one task's run config, throwing on a bad one (the command line passes its
   * `validateRunConfig`: known preset, data spec shape, model and train overrides); the error is
   * rethrown naming the task's swept values.
   */
  checkConfig?: (config: RunConfig) => void;
}

/**
 * Expand a spec into its tasks: every case (outermost, in order), crossed with every grid cell
 * (the last grid path varies fastest), crossed with every random sample, each applied to a copy
 * of the base config with the case laid over it. A random draw that repeats an earlier task's
 * config in the same case (a `choice` drawn twice) is dropped, so there can be fewer tasks than
 * cases × grid cells × `random.n`; two cases that give the same run config are refused.
 *
 * @example
 * ```ts
 * import { expandSweep, parseSweepSpec } from "@hest/hest";
 * const tasks = await expandSweep(
 *   parseSweepSpec({ base: { preset: "tiny" }, grid: { seed: [0, 1], "train.lr": [1e-3, 3e-3] } }),
 * );
 * tasks.length; // 4
 * ```
 */
export async function expandSweep(
  spec: SweepSpec,
  opts: ExpandSweepOptions = {},
): Promise<SweepTask[]> {
  let cells: Record<string, unknown>[] = [{}];
  for (const [path, values] of Object.entries(spec.grid ?? {})) {
    cells = cells.flatMap((c) => values.map((v) => ({ ...c, [path]: v })));
  }
  const samples = spec.random ? randomSamples(spec.random) : [{}];
  const tasks: SweepTask[] = [];
  const byHash = new Map<string, SweepTask>();
  for (const kase of spec.cases ?? [undefined]) {
    for (const cell of cells) {
      for (const sample of samples) {
        const params = { ...cell, ...sample };
        const where = () =>
          `task ${tasks.length} (${
            [
              ...(kase ? [`case "${kase.name}"`] : []),
              ...Object.entries(params).map(([p, v]) => `${p} = ${describe(v)}`),
            ].join(", ") || "base"
          })`;
        const b = spec.base, c: SweepBase = kase ?? {};
        // without cases this is the base alone, so such sweeps keep their configs and ids
        const cfg: Record<string, unknown> = {
          data: structuredClone(c.data ?? b.data ?? { kind: "lorenz" }),
          preset: c.preset ?? b.preset ?? "standard",
          model: structuredClone({ ...(b.model ?? {}), ...(c.model ?? {}) }),
          train: structuredClone({ ...(b.train ?? {}), ...(c.train ?? {}) }),
          seed: c.seed ?? b.seed ?? 0,
          backend: c.backend ?? b.backend ?? "wasm",
        };
        try {
          for (const [p, v] of Object.entries(params)) setPath(cfg, p, v);
          opts.checkConfig?.(cfg as unknown as RunConfig);
        } catch (err) {
          throw new (err instanceof RangeError ? RangeError : TypeError)(
            `sweep spec: ${where()}: ${(err as Error).message}`,
            { cause: err },
          );
        }
        const config = cfg as unknown as RunConfig;
        const key = canonicalJson(config);
        const twin = byHash.get(key);
        if (twin && twin.case !== kase?.name) {
          throw new RangeError(
            `sweep spec: ${where()}: cases "${twin.case}" and "${kase?.name}" give the same run ` +
              `config (task ${twin.index}); a case must change something`,
          );
        }
        // only random draws can repeat within a case (grid values are distinct): one run per
        // config is enough
        if (twin) continue;
        const task: SweepTask = {
          index: tasks.length,
          id: await sweepTaskId(config, params, { case: kase?.name }),
          ...(kase ? { case: kase.name } : {}),
          params,
          config,
        };
        byHash.set(key, task);
        tasks.push(task);
      }
    }
  }
  return tasks;
}

/**
 * Write `<outDir>/spec.json` and `<outDir>/tasks.jsonl` (atomically) and return the tasks file's
 * SHA-256, which the Slurm script uses to name its frozen copy.
 *
 * @example
 * ```ts
 * import { expandSweep, parseSweepSpec, writeSweepTasks } from "@hest/hest";
 * const spec = parseSweepSpec({ base: { preset: "tiny" }, grid: { seed: [0, 1] } });
 * await writeSweepTasks("/tmp/hest-sweep", spec, { tasks: await expandSweep(spec) });
 * ```
 */
export async function writeSweepTasks(
  outDir: string,
  spec: SweepSpec,
  opts: { tasks: readonly SweepTask[] },
): Promise<string> {
  await Deno.mkdir(outDir, { recursive: true });
  const text = opts.tasks.map((t) => JSON.stringify(t)).join("\n") + "\n";
  await writeJsonAtomic(`${outDir}/spec.json`, spec);
  await writeFileAtomic(`${outDir}/tasks.jsonl`, text);
  return await sha256Hex(text);
}

/**
 * Read a tasks file (`tasks.jsonl`: one {@linkcode SweepTask} per line). A missing file, a line
 * that is not a task, or indices out of order are errors naming the file and line.
 *
 * @example
 * ```ts ignore
 * import { readSweepTasks } from "@hest/hest";
 * const tasks = await readSweepTasks("runs/sweep/tasks.jsonl");
 * ```
 */
export async function readSweepTasks(path: string): Promise<SweepTask[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new RunFolderError(
      `cannot read the sweep's tasks ${path} (written by \`deno task sweep --spec SPEC --out ` +
        `DIR\`): ${(err as Error).message}`,
      { cause: err },
    );
  }
  const tasks: SweepTask[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    let t: SweepTask;
    try {
      t = JSON.parse(line);
    } catch (err) {
      throw new RunFolderError(`${path}:${i + 1}: not JSON: ${(err as Error).message}`);
    }
    if (
      !isObject(t) || t.index !== tasks.length || typeof t.id !== "string" ||
      !/^[A-Za-z0-9.+_-]+$/.test(t.id) || !isObject(t.params) || !isObject(t.config) ||
      (t.case !== undefined && typeof t.case !== "string")
    ) {
      throw new RunFolderError(
        `${path}:${i + 1}: expected task ${tasks.length} ({index, id, case?, params, config}), ` +
          `found ` +
          describe(t),
      );
    }
    tasks.push(t);
  }
  return tasks;
}

/**
 * The run folder of a task: `<outDir>/runs/<id>`.
 *
 * @example
 * ```ts
 * import { sweepRunDir } from "@hest/hest";
 * sweepRunDir("runs/sweep", "seed1-0a1b2c3d"); // "runs/sweep/runs/seed1-0a1b2c3d"
 * ```
 */
export function sweepRunDir(outDir: string, id: string): string {
  return `${outDir}/runs/${id}`;
}
