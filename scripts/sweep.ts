/**
 * Sweeps, random searches and ensembles, run locally or as a Slurm job array (docs/sweeps.md).
 *
 *     deno task sweep --spec SPEC.json --out DIR                  # expand: DIR/tasks.jsonl
 *     deno task sweep --spec SPEC.json --out DIR --local --jobs K # run (K processes) + collect
 *     deno task sweep --spec SPEC.json --out DIR --slurm [--dry-run] [--partition P] ...
 *     deno task sweep --out DIR --task-index N                    # one task (a Slurm array task)
 *     deno task sweep collect --out DIR                           # DIR/results.json + figures
 *
 * The experiment scripts (`scripts/_experiment.ts`: ablation, compare, phase1–3) run their
 * sweeps through the functions exported here, so `--local` and `--slurm` mean the same there.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  expandSweep,
  parseSweepSpec,
  readSweepTasks,
  sha256Hex,
  writeSweepTasks,
} from "../lib/experiments/sweep.ts";
import { runSweepTask } from "../lib/experiments/sweep_task.ts";
import {
  type LocalSweepReport,
  runSweepLocal,
  sbatchScript,
  submitSbatch,
  unfinishedTasks,
  writeSbatchScript,
} from "../lib/experiments/sweep_slurm.ts";
import type { SweepResults } from "../lib/experiments/sweep_collect.ts";
import { writeFileAtomic } from "../lib/core/io.ts";
import {
  InputError,
  intFlag,
  parseFlags,
  readJson,
  runMain,
  UsageError,
  validateRunConfig,
} from "./_cli.ts";

const USAGE = `usage: deno task sweep --spec SPEC.json --out DIR [--local [--jobs K] | --slurm ...]
       deno task sweep --out DIR --task-index N
       deno task sweep collect --out DIR

  --spec FILE.json      the sweep: {"base": {run config}, "cases": [{"name", ...run config}],
                        "grid": {"path": [values]}, "random": {"n", "seed", "params": {"path":
                        {"logUniform"|"uniform": [lo, hi] | "choice": [values], "integer"}}},
                        "ensemble": {"top": k}} (docs/sweeps.md); expanded to DIR/tasks.jsonl
                        (without --spec: the DIR/tasks.jsonl there)
  --out DIR             the sweep folder: tasks.jsonl, runs/<id>/, status/, logs/, results.json
  --local               run every unfinished task on this machine, then collect
  --jobs K              tasks at once (--local: processes, default 1; --slurm: the array's %K)
  --slurm               write DIR/sweep.sbatch (a job array of the unfinished tasks) and sbatch it
  --dry-run             with --slurm: write the script only
  --partition P         --slurm: partition (default the cluster's)
  --cpus-per-task N     --slurm: cores per task (default 1)
  --mem SIZE            --slurm: memory per task (default 4G)
  --time LIMIT          --slurm: time limit per task (default 01:00:00)
  --job-name NAME       --slurm: job name (default hest-sweep)
  --sbatch-option OPT   --slurm: one more #SBATCH option, e.g. --sbatch-option=--account=lab (repeatable)
  --deno CMD            --slurm: how the tasks start Deno (default this Deno: ${Deno.execPath()});
                        e.g. --deno "npx --yes deno@2.9.6"
  --task-index N        run task N of DIR/tasks.jsonl (a Slurm array task passes $SLURM_ARRAY_TASK_ID)
  --tasks FILE          with --task-index: the tasks file (default DIR/tasks.jsonl)
  --log FILE            with --task-index: a log file of this attempt, recorded in its status (repeatable)
  --quiet               no progress bars
  -h, --help            this text

A finished task (metrics.json there, config.json matching) is skipped, an interrupted one
resumes from its state.safetensors, and a failed one is reported with its log; run the same
command again to retry the unfinished ones.`;

/** The repository root: the tasks run this checkout's script with its deno.json and lock. */
const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** The flags of running a sweep (`--local`, `--slurm` and its sbatch options), for parseFlags. */
export const SWEEP_RUN_FLAGS = {
  local: { type: "boolean" },
  jobs: { type: "string" },
  slurm: { type: "boolean" },
  "dry-run": { type: "boolean" },
  partition: { type: "string" },
  "cpus-per-task": { type: "string" },
  mem: { type: "string" },
  time: { type: "string" },
  "job-name": { type: "string" },
  "sbatch-option": { type: "string", multiple: true },
  deno: { type: "string" },
} as const;

/** The parsed {@linkcode SWEEP_RUN_FLAGS}. */
export interface SweepRunFlags {
  /** `--local`: run the tasks here. */
  local?: boolean;
  /** `--jobs K`: processes at once (local) or the array's `%K` (Slurm). */
  jobs?: string;
  /** `--slurm`: submit a job array. */
  slurm?: boolean;
  /** `--dry-run`: write the sbatch script only. */
  "dry-run"?: boolean;
  /** `--partition P`. */
  partition?: string;
  /** `--cpus-per-task N`. */
  "cpus-per-task"?: string;
  /** `--mem SIZE`. */
  mem?: string;
  /** `--time LIMIT`. */
  time?: string;
  /** `--job-name NAME`. */
  "job-name"?: string;
  /** `--sbatch-option OPT` (repeatable). */
  "sbatch-option"?: string[];
  /** `--deno CMD`: how the tasks start Deno. */
  deno?: string;
}

const SLURM_ONLY = [
  "dry-run",
  "partition",
  "cpus-per-task",
  "mem",
  "time",
  "job-name",
  "sbatch-option",
  "deno",
] as const;

/**
 * Refuse sbatch options without `--slurm`, `--jobs` without `--local` or `--slurm`, and both of
 * these at once (UsageError); the `--jobs` value.
 */
export function checkSweepRunFlags(f: SweepRunFlags): number | undefined {
  const given = SLURM_ONLY.filter((n) => f[n] !== undefined);
  if (!f.slurm && given.length) throw new UsageError(`--${given[0]} applies to --slurm only`);
  if (f.local && f.slurm) throw new UsageError(`--local and --slurm exclude each other`);
  if (f.jobs !== undefined && !f.local && !f.slurm) {
    throw new UsageError(`--jobs applies to --local and --slurm only`);
  }
  return intFlag("jobs", f.jobs, 1);
}

if (import.meta.main) await main();

async function main(): Promise<void> {
  await runMain(USAGE, async () => {
    const args = [...Deno.args];
    const collect = args[0] === "collect";
    if (collect) args.shift();
    const f = parseFlags({
      spec: { type: "string" },
      out: { type: "string" },
      ...SWEEP_RUN_FLAGS,
      "task-index": { type: "string" },
      tasks: { type: "string" },
      log: { type: "string", multiple: true },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    }, args);
    if (f.help) {
      console.log(USAGE);
      return;
    }
    if (!f.out) throw new UsageError(`--out DIR is required: the sweep folder`);
    const out = f.out.replace(/\/+$/, "") || "/";
    await sweepCommand(out, f, collect);
  });
}

async function sweepCommand(
  out: string,
  f: SweepRunFlags & {
    spec?: string;
    "task-index"?: string;
    tasks?: string;
    log?: string[];
    quiet?: boolean;
  },
  collect: boolean,
): Promise<void> {
  const given = (names: readonly string[]) =>
    names.filter((n) => (f as Record<string, unknown>)[n] !== undefined);
  if (!f.slurm && given(SLURM_ONLY).length) {
    throw new UsageError(`--${given(SLURM_ONLY)[0]} applies to --slurm only`);
  }
  const taskIndex = intFlag("task-index", f["task-index"], 0);
  if (taskIndex === undefined && given(["tasks", "log"]).length) {
    throw new UsageError(`--${given(["tasks", "log"])[0]} applies to --task-index only`);
  }
  const actions = [collect && "collect", f.local && "--local", f.slurm && "--slurm"]
    .concat(taskIndex !== undefined ? ["--task-index"] : []).filter(Boolean);
  if (actions.length > 1) throw new UsageError(`${actions.join(" and ")} exclude each other`);
  if (f.jobs !== undefined && !f.local && !f.slurm) {
    throw new UsageError(`--jobs applies to --local and --slurm only`);
  }
  const jobs = intFlag("jobs", f.jobs, 1);
  if ((collect || taskIndex !== undefined) && f.spec) {
    throw new UsageError(
      `--spec does not go with ${collect ? "collect" : "--task-index"}: it reads ${out}/` +
        (collect ? "spec.json" : "tasks.jsonl"),
    );
  }

  if (collect) {
    await runCollect(out);
    return;
  }
  if (taskIndex !== undefined) {
    await runSweepTask(out, taskIndex, {
      tasksFile: f.tasks,
      logs: f.log,
      progress: !f.quiet,
      log: (l) => console.error(`hest sweep: ${l}`),
    });
    return;
  }
  if (f.spec) await expand(f.spec, out);
  else if (!f.local && !f.slurm) {
    throw new UsageError(`give --spec SPEC.json (to expand a sweep), or --local / --slurm`);
  }
  if (!f.local && !f.slurm) {
    console.error(
      `hest sweep: run the tasks with --local [--jobs K] or --slurm (or --task-index N each)`,
    );
    return;
  }
  if (f.local) {
    const report = await runLocal(out, jobs);
    const res = await runCollect(out);
    if (report.failed.length > 0 || res.failed.length > 0) {
      throw new Error(failedTasksMessage(report, res.tasks));
    }
    return;
  }
  if (f.slurm) await submitSlurm(out, { ...f, jobsAtOnce: jobs });
}

/**
 * Run every unfinished task of `out/tasks.jsonl` here, `jobs` processes at once (each one
 * `scripts/sweep.ts --task-index N` with this Deno and this checkout's deno.json), and say how
 * many ran, were finished earlier and failed.
 */
export async function runLocal(out: string, jobs = 1): Promise<LocalSweepReport> {
  const report = await runSweepLocal(out, {
    jobs,
    command: (t, log) => [Deno.execPath(), ...taskArgs(out, t.index, log)],
    log: (l) => console.error(`hest sweep: ${l}`),
  });
  console.error(
    `hest sweep: ${report.ran.length} task(s) run, ${report.skipped.length} finished earlier, ` +
      `${report.failed.length} failed`,
  );
  return report;
}

/** The error of a local run with failed tasks: each task, its error and its log. */
export function failedTasksMessage(report: LocalSweepReport, total: number): string {
  return `${report.failed.length} of ${total} task(s) failed: ` +
    report.failed.map((x) => `task ${x.task.index} (${x.task.id}): ${x.error} [log ${x.log}]`)
      .join("; ");
}

/** `deno run` of this script with the repository's config, on the sweep folder `out`. */
function sweepRunArgs(out: string): string[] {
  return [
    "run",
    "-A",
    "--frozen",
    "--config",
    `${ROOT}/deno.json`,
    `${ROOT}/scripts/sweep.ts`,
    "--out",
    out,
  ];
}

/** Arguments of `deno run` for one task (the local pool's child processes). */
function taskArgs(out: string, index: number, log: string): string[] {
  return [
    ...sweepRunArgs(out),
    "--task-index",
    String(index),
    "--log",
    log,
    "--quiet",
  ];
}

/** Read the spec file and expand it (see {@linkcode expandSpec}). */
async function expand(specPath: string, out: string): Promise<void> {
  await expandSpec(await readJson(specPath), out, { source: specPath });
}

/**
 * Check a spec (parsed JSON; `source` names it in errors, which are InputErrors: exit code 2,
 * nothing written), expand it with the command line's run-config checks and write
 * `out/spec.json` + `out/tasks.jsonl`; returns the number of tasks.
 */
export async function expandSpec(
  raw: unknown,
  out: string,
  opts: { source: string },
): Promise<number> {
  const specPath = opts.source;
  let tasks;
  let spec;
  try {
    spec = parseSweepSpec(raw, { source: specPath });
    tasks = await expandSweep(spec, { checkConfig: validateRunConfig });
  } catch (err) {
    throw new InputError(`${specPath}: ${(err as Error).message.replace(`${specPath}: `, "")}`, {
      cause: err,
    });
  }
  let before: number | undefined;
  try {
    before = (await readSweepTasks(`${out}/tasks.jsonl`)).length;
  } catch {
    // a new sweep folder
  }
  await writeSweepTasks(out, spec, { tasks });
  const cells = Object.values(spec.grid ?? {}).reduce((n, v) => n * v.length, 1) *
    (spec.random?.n ?? 1) * (spec.cases?.length ?? 1);
  console.error(
    `hest sweep: ${tasks.length} task(s) -> ${out}/tasks.jsonl` +
      (before !== undefined && before !== tasks.length ? ` (was ${before})` : "") +
      (cells > tasks.length ? ` (${cells - tasks.length} repeated random draw(s) dropped)` : ""),
  );
  return tasks.length;
}

/** Options of {@linkcode submitSlurm}: the sbatch flags, `--jobs`, and the collect command. */
export interface SubmitSlurmOptions extends SweepRunFlags {
  /** The array's `%K` throttle (the parsed `--jobs`). */
  jobsAtOnce?: number;
  /** The command that gathers the results when the array is done (printed). */
  collect?: string;
}

/**
 * Write `out/sweep.sbatch`, a job array of the unfinished tasks, and submit it (unless
 * `--dry-run`): `"submitted"`, `"written"`, or `"finished"` when no task is left to run.
 */
export async function submitSlurm(
  out: string,
  f: SubmitSlurmOptions,
): Promise<"submitted" | "written" | "finished"> {
  const jobs = f.jobsAtOnce;
  const collect = f.collect ?? `deno task sweep collect --out ${out}`;
  const absOut = isAbsolute(out) ? out : resolve(out);
  const tasks = await readSweepTasks(`${out}/tasks.jsonl`);
  const todo = await unfinishedTasks(out, tasks);
  if (todo.length === 0) {
    console.error(`hest sweep: all ${tasks.length} task(s) finished; nothing to submit`);
    console.log(`collect: ${collect}`);
    return "finished";
  }
  // the array reads a frozen copy: re-expanding DIR/tasks.jsonl while jobs wait cannot shift
  // what an array index means
  const text = await Deno.readTextFile(`${out}/tasks.jsonl`);
  const frozen = `${absOut}/slurm/tasks-${(await sha256Hex(text)).slice(0, 12)}.jsonl`;
  await Deno.mkdir(`${absOut}/slurm`, { recursive: true });
  await writeFileAtomic(frozen, text);
  const words = [
    ...sweepRunArgs(absOut),
    "--tasks",
    frozen,
    "--quiet",
  ];
  let script: string;
  try {
    script = sbatchScript(absOut, {
      indices: todo.map((t) => t.index),
      jobs,
      cpusPerTask: intFlag("cpus-per-task", f["cpus-per-task"], 1),
      mem: f.mem,
      time: f.time,
      partition: f.partition,
      jobName: f["job-name"],
      extra: f["sbatch-option"],
      command: f.deno ? words : [Deno.execPath(), ...words],
      rawPrefix: f.deno,
      chdir: Deno.cwd(),
    });
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
  const path = `${out}/sweep.sbatch`;
  await writeSbatchScript(path, script, { outDir: absOut });
  const what = `${todo.length} of ${tasks.length} task(s)`;
  if (f["dry-run"]) {
    console.error(
      `hest sweep: wrote ${path} (${what}); submit it with: sbatch ${path}; when the array is ` +
        `done: ${collect}`,
    );
    return "written";
  }
  const id = await submitSbatch(path);
  console.error(
    `hest sweep: submitted job array ${id} (${what}); logs in ${out}/logs/, then: ${collect}`,
  );
  console.log(id);
  return "submitted";
}

/** Gather DIR into results.json and print a table and the unfinished tasks. */
async function runCollect(out: string): Promise<SweepResults> {
  const { collectSweep } = await import("../lib/experiments/sweep_collect.ts");
  const res = await collectSweep(out, { log: (l) => console.error(`hest sweep: ${l}`) });
  const fmt = (v: number | null) => v === null ? "-" : v.toFixed(4);
  const lines = [["task", "mode", "val co-bps", "test co-bps", "µJ/trial"]];
  for (const r of res.rows) {
    lines.push([
      r.id,
      r.mode,
      fmt(r.valCoBps),
      fmt(r.testCoBps),
      r.energyUj === null ? "-" : r.energyUj.toFixed(3),
    ]);
  }
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  if (res.rows.length > 0) {
    console.log(lines.map((l) => l.map((c, i) => c.padStart(widths[i])).join("  ")).join("\n"));
  }
  for (const p of res.failed) {
    console.error(
      `FAILED task ${p.index} (${p.id}): ${p.error ?? "unknown error"}; log ${
        p.logs.join(", ") || "-"
      }`,
    );
  }
  for (const p of res.pending) {
    console.error(
      `unfinished task ${p.index} (${p.id}): ${
        p.state === "running"
          ? `started on ${p.where} and not finished (running, or killed: see ${p.logs.join(", ")})`
          : "not run yet"
      }`,
    );
  }
  console.error(
    `hest sweep: ${res.finished} of ${res.tasks} task(s) finished -> ${out}/results.json` +
      (res.figures.length ? `, ${out}/figures/` : ""),
  );
  return res;
}
