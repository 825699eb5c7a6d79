/**
 * Running a sweep's tasks: a pool of local processes ({@linkcode runSweepLocal}) or a Slurm job
 * array ({@linkcode sbatchScript}, {@linkcode submitSbatch}). Both start the same per-task
 * command (`deno task sweep --task-index N`, see `scripts/sweep.ts`), so a task behaves the same
 * wherever it runs; the scheduling itself is left to the process pool or to Slurm.
 *
 * @module
 */
import { writeFileAtomic } from "../core/io.ts";
import { readSweepTasks, sweepRunDir, type SweepTask } from "./sweep.ts";
import { readSweepStatus, sweepTaskFinished } from "./sweep_task.ts";

/**
 * Compress task indices into a Slurm `--array` list: `[0, 1, 2, 5, 7, 8]` → `"0-2,5,7-8"`.
 *
 * @example
 * ```ts
 * import { arrayRanges } from "@hest/hest";
 * arrayRanges([0, 1, 2, 5, 7, 8]); // "0-2,5,7-8"
 * ```
 */
export function arrayRanges(indices: readonly number[]): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/**
 * The tasks of a sweep whose run folders do not hold a finished run yet (in index order).
 *
 * @example
 * ```ts ignore
 * import { readSweepTasks, unfinishedTasks } from "@hest/hest";
 * const todo = await unfinishedTasks("runs/sweep", await readSweepTasks("runs/sweep/tasks.jsonl"));
 * ```
 */
export async function unfinishedTasks(
  outDir: string,
  tasks: readonly SweepTask[],
): Promise<SweepTask[]> {
  const out: SweepTask[] = [];
  for (const t of tasks) {
    if (!(await sweepTaskFinished(sweepRunDir(outDir, t.id), t.config))) out.push(t);
  }
  return out;
}

/** Options of {@linkcode runSweepLocal}. */
export interface LocalSweepOptions {
  /** Processes at once (default 1). */
  jobs?: number;
  /**
   * The command (program and arguments) that runs one task, given the task and the log file its
   * output goes to; it should record the log file in the task's status (`--log`).
   */
  command: (task: SweepTask, log: string) => string[];
  /** Extra environment of the task processes. */
  env?: Record<string, string>;
  /** Receives one line per task started, skipped, finished or failed (default `console.error`). */
  log?: (line: string) => void;
}

/** A task that failed: its id, exit code, error line and log. */
export interface SweepFailure {
  /** The task. */
  task: SweepTask;
  /** Exit code of its process. */
  code: number;
  /** The last `error: …` line of its log (or its status), if any. */
  error: string;
  /** Its log file. */
  log: string;
}

/** What {@linkcode runSweepLocal} did. */
export interface LocalSweepReport {
  /** Tasks run to completion now. */
  ran: SweepTask[];
  /** Tasks finished before (not started). */
  skipped: SweepTask[];
  /** Tasks whose process failed. */
  failed: SweepFailure[];
}

/**
 * Run every unfinished task of `<outDir>/tasks.jsonl` as its own process, `jobs` at a time, each
 * writing its output to `<outDir>/logs/<id>.log`. Finished tasks are skipped without starting a
 * process; a failing task is reported (exit code, error line, log) and does not stop the others.
 *
 * @example
 * ```ts ignore
 * import { runSweepLocal } from "@hest/hest";
 * const report = await runSweepLocal("runs/sweep", {
 *   jobs: 2,
 *   command: (t, log) => [Deno.execPath(), "task", "sweep", "--out", "runs/sweep",
 *     "--task-index", String(t.index), "--log", log],
 * });
 * ```
 */
export async function runSweepLocal(
  outDir: string,
  opts: LocalSweepOptions,
): Promise<LocalSweepReport> {
  const jobs = opts.jobs ?? 1;
  if (!Number.isSafeInteger(jobs) || jobs < 1) {
    throw new RangeError(`jobs must be an integer >= 1, found ${jobs}`);
  }
  const log = opts.log ?? ((l: string) => console.error(l));
  const tasks = await readSweepTasks(`${outDir}/tasks.jsonl`);
  const todo = await unfinishedTasks(outDir, tasks);
  const report: LocalSweepReport = {
    ran: [],
    skipped: tasks.filter((t) => !todo.includes(t)),
    failed: [],
  };
  for (const t of report.skipped) log(`skip task ${t.index} (${t.id}): finished earlier`);
  await Deno.mkdir(`${outDir}/logs`, { recursive: true });
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const task = todo[next++];
      const logPath = `${outDir}/logs/${task.id}.log`;
      log(`start task ${task.index} (${task.id}) -> ${logPath}`);
      const code = await runLogged(opts.command(task, logPath), logPath, opts.env ?? {});
      if (code === 0) {
        report.ran.push(task);
        log(`done task ${task.index} (${task.id})`);
      } else {
        const error = await failureLine(outDir, task, logPath);
        report.failed.push({ task, code, error, log: logPath });
        log(`FAILED task ${task.index} (${task.id}), exit code ${code}: ${error} (log ${logPath})`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, todo.length) }, worker));
  const order = (a: { index: number }, b: { index: number }) => a.index - b.index;
  report.ran.sort(order);
  report.failed.sort((a, b) => order(a.task, b.task));
  return report;
}

/** Run `argv` with stdout and stderr appended to `logPath` (truncated first); the exit code. */
async function runLogged(
  argv: string[],
  logPath: string,
  env: Record<string, string>,
): Promise<number> {
  await Deno.writeTextFile(logPath, `$ ${argv.map(shellQuote).join(" ")}\n`);
  // two handles in append mode: each write lands whole at the end, so the streams interleave
  const out = await Deno.open(logPath, { append: true });
  const err = await Deno.open(logPath, { append: true });
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const [status] = await Promise.all([
    child.status,
    child.stdout.pipeTo(out.writable),
    child.stderr.pipeTo(err.writable),
  ]);
  return status.code;
}

/** Why a task failed: its status's error, else the last `error:` line of its log. */
async function failureLine(outDir: string, task: SweepTask, logPath: string): Promise<string> {
  const status = await readSweepStatus(outDir, task.id);
  if (status?.state === "failed" && status.error) return status.error;
  try {
    const lines = (await Deno.readTextFile(logPath)).trimEnd().split("\n");
    return (lines.findLast((l) => l.startsWith("error:")) ?? lines[lines.length - 1] ?? "")
      .replace(/^error:\s*/, "");
  } catch {
    return "no log";
  }
}

/**
 * Quote a word for a POSIX shell (single quotes unless it is plainly safe).
 *
 * @example
 * ```ts
 * import { shellQuote } from "@hest/hest";
 * shellQuote("a b"); // "'a b'"
 * ```
 */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Options of {@linkcode sbatchScript}. */
export interface SbatchOptions {
  /** Task indices the array runs (`--array`). */
  indices: readonly number[];
  /** Tasks running at once (`%K`; default: as many as Slurm allows). */
  jobs?: number;
  /** Cores per task (`--cpus-per-task`, default 1: the wasm backend is one thread). */
  cpusPerTask?: number;
  /** Memory per task (`--mem`, e.g. `"4G"`, default `"4G"`). */
  mem?: string;
  /** Time limit per task (`--time`, e.g. `"01:00:00"`, default `"01:00:00"`). */
  time?: string;
  /** Partition (`--partition`; default the cluster's). */
  partition?: string;
  /** Job name (`--job-name`, default `"hest-sweep"`). */
  jobName?: string;
  /** More `#SBATCH` options, e.g. `["--account=lab", "--qos=short"]`. */
  extra?: readonly string[];
  /**
   * The task command, as shell words, up to but not including `--task-index`, e.g. the absolute
   * Deno binary, `run -A --frozen --config <repo>/deno.json <repo>/scripts/sweep.ts --out <out>
   * --tasks <frozen tasks file>`. Each word is quoted unless `rawPrefix` is set.
   */
  command: readonly string[];
  /** Shell text put before the command unquoted (e.g. `npx --yes deno@2.9.6`). */
  rawPrefix?: string;
  /** Working directory of the tasks (`--chdir`). */
  chdir: string;
}

const SLURM_TIME = /^(\d+-)?\d+(:\d{1,2}){0,2}$/;
const SLURM_MEM = /^\d+[KMGT]?$/;
const SLURM_NAME = /^[A-Za-z0-9_.,+-]+$/;

/**
 * The text of a Slurm batch script that runs `indices` of a sweep as a job array: `#SBATCH`
 * lines (`--array=<ranges>%<jobs>`, `--cpus-per-task`, `--mem`, `--time`, `--partition`, one
 * output and one error log per task under `<outDir>/logs/`), then the task command with
 * `--task-index "$SLURM_ARRAY_TASK_ID"` and the log paths. Bad option values are a `RangeError`
 * naming the option.
 *
 * @example
 * ```ts
 * import { sbatchScript } from "@hest/hest";
 * const text = sbatchScript("/scratch/sweep", {
 *   indices: [0, 1, 2, 3],
 *   jobs: 2,
 *   command: ["/usr/local/bin/deno", "run", "-A", "scripts/sweep.ts", "--out", "/scratch/sweep"],
 *   chdir: "/home/me/hest",
 * });
 * text.includes("#SBATCH --array=0-3%2"); // true
 * ```
 */
export function sbatchScript(outDir: string, opts: SbatchOptions): string {
  if (opts.indices.length === 0) throw new RangeError(`sbatchScript: no task indices to run`);
  const check = (flag: string, v: string | undefined, re: RegExp, expected: string) => {
    if (v !== undefined && !re.test(v)) {
      throw new RangeError(`--${flag} must be ${expected}, found ${JSON.stringify(v)}`);
    }
  };
  check("mem", opts.mem, SLURM_MEM, 'a size such as "4G" or "500M"');
  check("time", opts.time, SLURM_TIME, 'a Slurm time such as "30", "01:00:00" or "1-12:00:00"');
  check("partition", opts.partition, SLURM_NAME, "a partition name");
  check("job-name", opts.jobName, SLURM_NAME, "letters, digits, _ . , + -");
  for (const [flag, v] of [["jobs", opts.jobs], ["cpus-per-task", opts.cpusPerTask]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) {
      throw new RangeError(`--${flag} must be an integer >= 1, found ${v}`);
    }
  }
  for (const x of opts.extra ?? []) {
    if (!/^--?[A-Za-z]/.test(x) || /[\n\r]/.test(x)) {
      throw new RangeError(
        `an extra #SBATCH option must be one "--option[=value]", found ${JSON.stringify(x)}`,
      );
    }
  }
  for (const [what, dir] of [["output folder", outDir], ["--chdir", opts.chdir]]) {
    // #SBATCH lines are not shell-parsed, and % starts a Slurm file-name pattern
    if (!/^[^\s%"'$`\\]+$/.test(dir)) {
      throw new RangeError(
        `the ${what} of a Slurm sweep must be a path without spaces, quotes, $, \` or %, found ` +
          JSON.stringify(dir),
      );
    }
  }
  const logs = `${outDir}/logs/slurm-%A_%a`;
  const lines = [
    "#!/bin/bash",
    `#SBATCH --job-name=${opts.jobName ?? "hest-sweep"}`,
    `#SBATCH --array=${arrayRanges(opts.indices)}${opts.jobs ? `%${opts.jobs}` : ""}`,
    `#SBATCH --ntasks=1`,
    `#SBATCH --cpus-per-task=${opts.cpusPerTask ?? 1}`,
    `#SBATCH --mem=${opts.mem ?? "4G"}`,
    `#SBATCH --time=${opts.time ?? "01:00:00"}`,
    ...(opts.partition ? [`#SBATCH --partition=${opts.partition}`] : []),
    ...(opts.extra ?? []).map((x) => `#SBATCH ${x}`),
    `#SBATCH --output=${logs}.out`,
    `#SBATCH --error=${logs}.err`,
    `#SBATCH --chdir=${opts.chdir}`,
    "# Written by `deno task sweep --slurm`; each array task runs one task of the sweep.",
    "set -euo pipefail",
    "export NO_COLOR=1",
    `log="${outDir}/logs/slurm-\${SLURM_ARRAY_JOB_ID}_\${SLURM_ARRAY_TASK_ID}"`,
    [
      "exec",
      ...(opts.rawPrefix ? [opts.rawPrefix] : []),
      ...opts.command.map(shellQuote),
      `--task-index "$SLURM_ARRAY_TASK_ID"`,
      `--log "$log.out" --log "$log.err"`,
    ].join(" "),
  ];
  return lines.join("\n") + "\n";
}

/**
 * Write a batch script (atomically, executable) and create the log folder its `#SBATCH
 * --output` lines name, `<outDir>/logs` (Slurm does not create it, and a task with nowhere to
 * log fails).
 *
 * @example
 * ```ts ignore
 * import { sbatchScript, writeSbatchScript } from "@hest/hest";
 * const text = sbatchScript("/scratch/sweep", { indices: [0, 1], command: ["deno"], chdir: "." });
 * await writeSbatchScript("/scratch/sweep/sweep.sbatch", text, { outDir: "/scratch/sweep" });
 * ```
 */
export async function writeSbatchScript(
  path: string,
  text: string,
  opts: { outDir: string },
): Promise<void> {
  await Deno.mkdir(`${opts.outDir}/logs`, { recursive: true });
  await writeFileAtomic(path, text);
  await Deno.chmod(path, 0o755).catch(() => {});
}

/**
 * Submit a batch script with `sbatch --parsable` and return the job id. A missing `sbatch` or a
 * refused submission is an error with Slurm's message.
 *
 * @example
 * ```ts ignore
 * import { submitSbatch } from "@hest/hest";
 * const jobId = await submitSbatch("runs/sweep/sweep.sbatch");
 * ```
 */
export async function submitSbatch(path: string, opts: { sbatch?: string } = {}): Promise<string> {
  const exe = opts.sbatch ?? "sbatch";
  let r: Deno.CommandOutput;
  try {
    r = await new Deno.Command(exe, { args: ["--parsable", path], stdin: "null" }).output();
  } catch (err) {
    throw new Error(
      `cannot run ${exe}: ${(err as Error).message}; submit from a Slurm login node ` +
        `(or write the script only with --dry-run)`,
      { cause: err },
    );
  }
  const out = new TextDecoder().decode(r.stdout).trim();
  if (r.code !== 0) {
    throw new Error(
      `${exe} ${path} failed (exit code ${r.code}): ${new TextDecoder().decode(r.stderr).trim()}`,
    );
  }
  // --parsable prints "<job id>" or "<job id>;<cluster>"
  const id = out.split("\n").pop()!.split(";")[0];
  if (!/^\d+$/.test(id)) throw new Error(`${exe} printed no job id, found ${JSON.stringify(out)}`);
  return id;
}
