/**
 * hest against the Neural Data Transformer's own code on the demo's data, at equal training
 * wall time: hest's presets (both modes of the hybrid) and, where a driver for NDT's PyTorch code
 * is given and Python has torch, NDT trained on the same machine in the same command, scored on
 * the same test trials; a table (co-bps, × oracle, rate R², fp-bps, seconds) and a figure of
 * co-bps against training wall time.
 *
 *     deno task vs-ndt [--seeds 0,1] [--variants LIST] [--out DIR]
 *                      [--ndt CMD [--ndt-budget S] [--ndt-seeds LIST] [--ndt-python PY]
 *                       [--ndt-work DIR]] [--add-runs [LABEL=]DIR[+DIR...],...]
 *     deno task vs-ndt [...] --sweep-out DIR (--local --jobs K | --slurm [sbatch flags] | --collect)
 *
 * `--ndt CMD` is a driver called as `CMD WORKDIR BUDGET_S SEED` (lib/experiments/ndt_peer.ts);
 * hest does not ship NDT. Without `--ndt`, or where the driver's Python lacks torch, the NDT rows
 * are skipped with a message saying why.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { basename } from "node:path";
import {
  aggregateExperiment,
  type ExperimentResult,
  type ExperimentVariant,
  type Stat,
  stat,
  type VariantResult,
} from "../lib/experiments/experiment.ts";
import type { MetricsFile } from "../lib/experiments/run.ts";
import {
  checkPeerPython,
  parsePeerLog,
  peerRowTimes,
  type PeerSnapshot,
  runPeer,
  snapshotAt,
} from "../lib/experiments/ndt_peer.ts";
import { coBpsTimeChart, type TimePoint } from "../lib/figures/time_charts.ts";
import { saveFigure } from "../lib/figures/render.ts";
import { experimentMain } from "./_experiment.ts";
import { UsageError } from "./_cli.ts";

/** hest's rows: the presets a user runs, at their own budgets. */
export const VS_NDT: ExperimentVariant[] = [
  { name: "standard", label: "standard transformer", preset: "standard" },
  { name: "hybrid", label: "hybrid", preset: "hybrid" },
];

/** The NDT label in tables and figures (its own colour, lib/figures/style.ts). */
const NDT = "NDT reference code";

function seedsFlag(v: string | undefined, dflt: number[]): number[] {
  if (v === undefined) return dflt;
  const xs = v.split(",").map((s) => Number(s.trim()));
  if (xs.length === 0 || xs.some((x) => !Number.isSafeInteger(x))) {
    throw new UsageError(`--ndt-seeds must be comma-separated integers, found "${v}"`);
  }
  return xs;
}

/** Run (or reuse) the NDT driver per seed; undefined with a reason when it cannot run. */
async function ndtSnapshots(
  flags: Record<string, string | undefined>,
  outDir: string,
): Promise<{ snaps: PeerSnapshot[]; budget: number } | { skipped: string }> {
  if (flags.ndt === undefined) {
    return { skipped: "no --ndt driver given (hest does not ship NDT's code)" };
  }
  const budget = Number(flags["ndt-budget"] ?? 2050);
  if (!(budget > 0)) {
    throw new UsageError(`--ndt-budget must be seconds > 0, found "${flags["ndt-budget"]}"`);
  }
  const python = flags["ndt-python"] ??
    (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
  const why = await checkPeerPython(python);
  if (why) return { skipped: why };
  const work = flags["ndt-work"] ?? `${outDir}/ndt`;
  const snaps: PeerSnapshot[] = [];
  for (const seed of seedsFlag(flags["ndt-seeds"], [100])) {
    const summary = `${work}/run${seed}/summary.json`;
    const log = `${work}/run${seed}/log.jsonl`;
    if (existsSync(summary) && existsSync(log)) {
      console.error(`vs-ndt: reusing the finished NDT run in ${work}/run${seed}`);
      snaps.push(...parsePeerLog(await Deno.readTextFile(log), { seed, source: log }));
      continue;
    }
    console.error(`vs-ndt: NDT seed ${seed}, ${budget} s of training -> ${work}/run${seed}`);
    snaps.push(...await runPeer({ command: flags.ndt, workDir: work, budgetS: budget, seed }));
  }
  return { snaps, budget };
}

function f4(x: number): string {
  return Number.isFinite(x) ? x.toFixed(4) : "—";
}

/** mean ± sd over seeds, or the one value. */
function pm(s: Stat): string {
  return s.values.length > 1 ? `${f4(s.mean)} ± ${f4(s.sd)}` : f4(s.mean);
}

function mean(xs: number[]): number {
  return stat(xs).mean;
}

/** An added run's row, with the SNN timesteps of a row scored at other ones than trained. */
type AddedRow = VariantResult & { timesteps?: number };

/** The metrics of a run folder named in --add-runs. */
async function runMetrics(dir: string): Promise<MetricsFile> {
  const path = `${dir}/metrics.json`;
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new UsageError(`--add-runs: cannot read ${path}: ${(e as Error).message}`);
  }
}

/**
 * Rows of finished run folders given with --add-runs, as experiment results: `[LABEL=]DIR` is one
 * run, `LABEL=DIR+DIR+…` the same recipe on several seeds (mean ± sd over the folders).
 */
async function addedRuns(flag: string | undefined): Promise<AddedRow[]> {
  if (flag === undefined) return [];
  const out: AddedRow[] = [];
  for (const entry of flag.split(",").map((d) => d.trim()).filter((d) => d !== "")) {
    // LABEL=DIR names the row; a bare DIR is labelled with its folder name
    const eq = entry.indexOf("=");
    const dirs = (eq >= 0 ? entry.slice(eq + 1) : entry).split("+").map((d) =>
      d.trim().replace(/\/+$/, "")
    );
    const ms = await Promise.all(dirs.map(runMetrics));
    const name = eq >= 0 ? entry.slice(0, eq).trim() : basename(dirs[0]);
    const rows = aggregateExperiment([{ name, label: name, preset: "" }], {
      seeds: ms.map((_, i) => i),
      metrics: (_v, i) => ms[i],
    }).results;
    for (const r of rows) {
      const ts = new Set(ms.map((m) => m.results.find((x) => x.mode === r.mode)?.timesteps));
      if (ts.size > 1) {
        throw new UsageError(
          `--add-runs: the runs of "${name}" scored their ${r.mode} mode at different SNN ` +
            `timesteps (${[...ts].join(", ")}); give runs scored alike`,
        );
      }
      out.push({ ...r, timesteps: [...ts][0] });
    }
  }
  return out;
}

async function report(
  result: ExperimentResult,
  ctx: { outDir: string; flags: Record<string, string | undefined> },
) {
  const oracle = result.results[0].oracleCoBps;
  const added = await addedRuns(ctx.flags["add-runs"]);
  const hest = [...result.results, ...added].map((r: AddedRow) => ({
    model: `hest ${r.label}`,
    mode: r.timesteps === undefined ? r.mode : `${r.mode} (T = ${r.timesteps})`,
    seconds: r.trainSeconds.mean,
    coBps: r.coBps,
    ratio: r.coBpsRatio,
    rateR2: r.rateR2,
    fpBps: r.fpBps,
    n: r.coBps.values.length,
  }));
  const lines = [
    "| model | mode | train s | co-bps | × oracle | rate R² | fp-bps | runs |",
    "|---|---|---|---|---|---|---|---|",
    ...hest.map((h) =>
      `| ${h.model} | ${h.mode} | ${h.seconds.toFixed(0)} | ${pm(h.coBps)} | ${
        h.ratio.mean.toFixed(3)
      } | ${pm(h.rateR2)} | ${pm(h.fpBps)} | ${h.n} |`
    ),
  ];
  const peer = await ndtSnapshots(ctx.flags, ctx.outDir);
  const ndtRows: Record<string, unknown>[] = [];
  let note: string;
  if ("skipped" in peer) {
    console.error(`vs-ndt: NDT rows skipped: ${peer.skipped}`);
    note = `NDT rows skipped: ${peer.skipped}.`;
  } else {
    const seeds = [...new Set(peer.snaps.map((s) => s.seed))];
    // NDT at each hest row's wall time (capped at its budget), and at its budget
    const times = peerRowTimes(hest.map((h) => h.seconds), peer.budget);
    for (const t of times) {
      const at = seeds.map((seed) => snapshotAt(peer.snaps.filter((s) => s.seed === seed), t + 1))
        .filter((s): s is PeerSnapshot => s !== undefined);
      if (at.length === 0) continue;
      const row = {
        model: NDT,
        atSeconds: t,
        trainSeconds: mean(at.map((s) => s.trainSeconds)),
        coBps: mean(at.map((s) => s.coBps)),
        coBpsRatio: mean(at.map((s) => s.coBps / s.oracleCoBps)),
        rateR2: mean(at.map((s) => s.rateR2)),
        fpBps: mean(at.map((s) => s.fpBps)),
        runs: at.length,
        seeds: at.map((s) => s.seed),
      };
      ndtRows.push(row);
      lines.push(
        `| ${NDT} (snapshot at ≤ ${t} s) | standard | ${row.trainSeconds.toFixed(0)} | ${
          f4(row.coBps)
        } | ${row.coBpsRatio.toFixed(3)} | ${f4(row.rateR2)} | ${f4(row.fpBps)} | ${at.length} |`,
      );
    }
    note =
      `NDT: its own code through \`${ctx.flags.ndt}\`, seeds ${
        seeds.join(", ")
      }, ${peer.budget} s ` +
      "budget, scored every 2 minutes of training on the best-validation checkpoint (NDT's own " +
      "early-stopping choice); a row quotes the last snapshot at or before the hest row's time.";
  }
  const points: TimePoint[] = [
    ...[...result.results, ...added].flatMap((r) =>
      r.coBps.values.map((c, i) => ({
        model: r.label,
        mode: r.mode,
        seconds: r.trainSeconds.values[i],
        coBps: c,
      }))
    ),
    ...("skipped" in peer ? [] : peer.snaps.map((s) => ({
      model: NDT,
      mode: "standard",
      seconds: s.trainSeconds,
      coBps: s.coBps,
      series: `seed ${s.seed}`,
    }))),
  ];
  await saveFigure(coBpsTimeChart(points, { oracle }), `${ctx.outDir}/cobps_vs_time`, {
    formats: ["svg", "png"],
  });
  const markdown = [
    `Test split (${result.dataset.split ? "hest's split of the demo's data" : "the data"}); ` +
    `oracle co-bps of the true rates ${oracle.toFixed(4)}. hest rows: mean ± sd over seeds ` +
    `${result.seeds.join(", ")}; train s = wall time of training (validation passes included).`,
    "",
    ...lines,
    "",
    note,
    "",
    "![co-bps against training wall time](cobps_vs_time.png)",
  ].join("\n");
  return {
    json: {
      oracleCoBps: oracle,
      hest: hest.map((h) => ({ ...h })),
      ndt: ndtRows,
      ndtSkipped: "skipped" in peer ? peer.skipped : null,
      ndtSnapshots: "skipped" in peer ? [] : peer.snaps,
    },
    markdown,
  };
}

if (import.meta.main) {
  await experimentMain({
    name: "vs-ndt",
    description: "hest's presets against the Neural Data Transformer's own code on the demo's " +
      "data, at equal training wall time: co-bps, rate R², fp-bps, and co-bps against time.",
    variants: VS_NDT,
    flags: {
      "ndt": "NDT driver command, called as CMD WORKDIR BUDGET_S SEED (default: no NDT rows)",
      "ndt-budget": "NDT training wall time, seconds (default 2050)",
      "ndt-seeds": "NDT seeds (default 100)",
      "ndt-python": "the Python that must import torch (default /usr/bin/python3)",
      "ndt-work": "the driver's work folder (default OUT/ndt); a finished run there is reused",
      "add-runs":
        "comma-separated [LABEL=]DIR run folders (e.g. a long recipe's) added as rows; LABEL=DIR+DIR+… one row over several seeds",
    },
    report,
  });
}
