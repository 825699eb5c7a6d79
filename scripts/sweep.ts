/**
 * Sweeps, random searches and ensembles, run locally or as a Slurm job array (docs/sweeps.md).
 *
 *     deno task sweep --spec SPEC.json --out DIR                  # expand: DIR/tasks.jsonl
 *     deno task sweep --spec SPEC.json --out DIR --local --jobs K # run (K processes) + collect
 *     deno task sweep --spec SPEC.json --out DIR --slurm [--dry-run] [--partition P] ...
 *     deno task sweep --out DIR --task-index N                    # one task (a Slurm array task)
 *     deno task sweep collect --out DIR                           # DIR/results.json + figures
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

  --spec FILE.json      the sweep: {"base": {run config}, "grid": {"path": [values]},
                        "random": {"n", "seed", "params": {"path": {"logUniform"|"uniform": [lo, hi]
                        | "choice": [values], "integer"}}}, "ensemble": {"top": k}} (docs/sweeps.md);
                        expanded to DIR/tasks.jsonl (without --spec: the DIR/tasks.jsonl there)
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

await runMain(USAGE, async () => {
  const args = [...Deno.args];
  const collect = args[0] === "collect";
  if (collect) args.shift();
  const f = parseFlags({
    spec: { type: "string" },
    out: { type: "string" },
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
  const slurmFlags = [
    "dry-run",
    "partition",
    "cpus-per-task",
    "mem",
    "time",
    "job-name",
    "sbatch-option",
    "deno",
  ] as const;
  const given = (names: readonly string[]) =>
    names.filter((n) => (f as Record<string, unknown>)[n] !== undefined);
  if (!f.slurm && given(slurmFlags).length) {
    throw new UsageError(`--${given(slurmFlags)[0]} applies to --slurm only`);
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
    const report = await runSweepLocal(out, {
      jobs: jobs ?? 1,
      command: (t, log) => [
        Deno.execPath(),
        ...taskArgs(out, t.index, log),
      ],
      log: (l) => console.error(`hest sweep: ${l}`),
    });
    console.error(
      `hest sweep: ${report.ran.length} task(s) run, ${report.skipped.length} finished earlier, ` +
        `${report.failed.length} failed`,
    );
    const res = await runCollect(out);
    if (report.failed.length > 0 || res.failed.length > 0) {
      throw new Error(
        `${report.failed.length} of ${res.tasks} task(s) failed: ` +
          report.failed.map((x) => `task ${x.task.index} (${x.task.id}): ${x.error} [log ${x.log}]`)
            .join("; "),
      );
    }
    return;
  }
  if (f.slurm) await slurm(out, f, jobs);
});

/** Arguments of `deno run` for one task (the local pool's child processes). */
function taskArgs(out: string, index: number, log: string): string[] {
  return [
    "run",
    "-A",
    "--frozen",
    "--config",
    `${ROOT}/deno.json`,
    `${ROOT}/scripts/sweep.ts`,
    "--out",
    out,
    "--task-index",
    String(index),
    "--log",
    log,
    "--quiet",
  ];
}

/** Read and check the spec, expand it and write DIR/spec.json + DIR/tasks.jsonl. */
async function expand(specPath: string, out: string): Promise<void> {
  const raw = await readJson(specPath);
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
    (spec.random?.n ?? 1);
  console.error(
    `hest sweep: ${tasks.length} task(s) -> ${out}/tasks.jsonl` +
      (before !== undefined && before !== tasks.length ? ` (was ${before})` : "") +
      (cells > tasks.length ? ` (${cells - tasks.length} repeated random draw(s) dropped)` : ""),
  );
}

/** Write the job-array script for the unfinished tasks and submit it (unless --dry-run). */
async function slurm(
  out: string,
  f: {
    "dry-run"?: boolean;
    partition?: string;
    "cpus-per-task"?: string;
    mem?: string;
    time?: string;
    "job-name"?: string;
    "sbatch-option"?: string[];
    deno?: string;
  },
  jobs: number | undefined,
): Promise<void> {
  const absOut = isAbsolute(out) ? out : resolve(out);
  const tasks = await readSweepTasks(`${out}/tasks.jsonl`);
  const todo = await unfinishedTasks(out, tasks);
  if (todo.length === 0) {
    console.error(`hest sweep: all ${tasks.length} task(s) finished; nothing to submit`);
    console.log(`collect: deno task sweep collect --out ${out}`);
    return;
  }
  // the array reads a frozen copy: re-expanding DIR/tasks.jsonl while jobs wait cannot shift
  // what an array index means
  const text = await Deno.readTextFile(`${out}/tasks.jsonl`);
  const frozen = `${absOut}/slurm/tasks-${(await sha256Hex(text)).slice(0, 12)}.jsonl`;
  await Deno.mkdir(`${absOut}/slurm`, { recursive: true });
  await writeFileAtomic(frozen, text);
  const words = [
    "run",
    "-A",
    "--frozen",
    "--config",
    `${ROOT}/deno.json`,
    `${ROOT}/scripts/sweep.ts`,
    "--out",
    absOut,
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
    console.error(`hest sweep: wrote ${path} (${what}); submit it with: sbatch ${path}`);
    return;
  }
  const id = await submitSbatch(path);
  console.error(
    `hest sweep: submitted job array ${id} (${what}); logs in ${out}/logs/, then: ` +
      `deno task sweep collect --out ${out}`,
  );
  console.log(id);
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
