/**
 * The PyTorch side of `deno task bench --vs-torch` (scripts/bench.ts): which torch_ref.py
 * measurement each row is paired with, running torch_ref.py, checking that PyTorch is there, and
 * the printed table.
 *
 * @module
 */
import { UsageError } from "./_cli.ts";

/** One benchmark row. */
export interface Row {
  name: string;
  medianMs: number;
  p99Ms: number;
  minMs: number;
  maxMs: number;
  n: number;
  [k: string]: unknown;
}

/**
 * Which torch_ref.py measurement each row is paired with: [model, field] of its JSON line
 * (`ndt` rows against `standard`, whose work per step is the same).
 */
export const TORCH_PAIRS: Record<string, [string, string]> = {
  "train.standard.remat": ["standard", "train_step_ms"],
  "train.spiking.remat": ["spiking", "train_step_ms"],
  "train.standard": ["standard", "train_step_ms"],
  "train.standard.fast": ["standard", "train_step_ms"],
  "train.standard.t2": ["standard", "train_step_ms"],
  "train.spiking.t2": ["spiking", "train_step_ms"],
  "infer.standard.b32.t2": ["standard", "infer_ms_b32"],
  "train.conv": ["conv", "train_step_ms"],
  "train.spiking": ["spiking", "train_step_ms"],
  "train.standard.ndt": ["standard", "train_step_ms"],
  "infer.standard.b32": ["standard", "infer_ms_b32"],
  "infer.standard.b32.fast": ["standard", "infer_ms_b32"],
  "infer.standard.b1": ["standard", "infer_ms_b1"],
  "infer.spiking.b32": ["spiking", "infer_ms_b32"],
  "infer.spiking.b1": ["spiking", "infer_ms_b1"],
  "infer.standard.ndt.b32": ["standard", "infer_ms_b32"],
};

/** Debian's python, where python3-torch installs (a `python3` on PATH may be another one). */
export const PYTHON = "/usr/bin/python3";

/** The repository's PyTorch peer, next to this script. */
export const DEFAULT_TORCH_REF = decodeURIComponent(
  new URL("./torch_ref.py", import.meta.url).pathname,
);

/**
 * torch_ref.py on `models` at each of `threadsList` (default one thread), the same repetitions;
 * its JSON lines (keyed `model`, or `model.tN` for N threads) and the command.
 */
export async function runTorch(
  torchRef: string,
  models: string[],
  reps: number,
  warmup: number,
  threadsList = [1],
): Promise<{
  command: string[];
  results: Record<string, Record<string, unknown>>;
  seconds: number;
}> {
  const args = [
    torchRef,
    "--models",
    models.join(","),
    "--threads-list",
    threadsList.join(","),
    "--no-sysinfo",
    "--no-matmul",
    "--quiet-wait",
    "0",
    "--steps",
    String(reps),
    "--warmup",
    String(warmup),
    "--infer-steps",
    String(reps),
  ];
  console.error(`running ${PYTHON} ${args.join(" ")}`);
  const t0 = performance.now();
  const out = await new Deno.Command(PYTHON, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  const results: Record<string, Record<string, unknown>> = {};
  const warnings = new Set<string>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    const r = JSON.parse(line) as Record<string, unknown>;
    if (r.error) {
      throw new Error(
        `torch_ref.py: ${r.error} (${(r.stderr_tail as string | undefined)?.trim() ?? ""})`,
      );
    }
    if (typeof r.warning === "string") warnings.add(r.warning);
    // one-thread results under the model's name, others under "<model>.t<threads>"
    if (typeof r.model === "string") {
      results[r.threads === 1 || r.threads === undefined ? r.model : `${r.model}.t${r.threads}`] =
        r;
    }
  }
  // e.g. torch on the netlib reference BLAS: the ratios would compare against a crippled peer
  for (const w of warnings) console.error(`warning: torch_ref.py: ${w}`);
  if (!out.success || Object.keys(results).length === 0) {
    throw new Error(
      `torch_ref.py failed (exit ${out.code}): ${
        new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join(" / ")
      }`,
    );
  }
  return { command: [PYTHON, ...args], results, seconds: (performance.now() - t0) / 1000 };
}

/**
 * The path of torch_ref.py (`--torch-ref`, else `HEST_TORCH_REF`, else the repository's own),
 * checked to exist, and that PyTorch can run, before spending minutes on the hest rows.
 */
export async function checkTorch(flag: string | undefined): Promise<string> {
  const env = Deno.env.get("HEST_TORCH_REF");
  const torchRef = flag || env || DEFAULT_TORCH_REF;
  const from = flag ? "--torch-ref" : env ? "HEST_TORCH_REF" : "the default torch_ref.py";
  try {
    await Deno.stat(torchRef);
  } catch (err) {
    throw new UsageError(`${from}: ${torchRef} not found (${(err as Error).message})`);
  }
  let ok = false;
  try {
    const r = await new Deno.Command(PYTHON, {
      args: ["-c", "import torch"],
      stdout: "null",
      stderr: "null",
    }).output();
    ok = r.success;
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new UsageError(
      `--vs-torch needs PyTorch for ${PYTHON}: apt-get install -y --no-install-recommends ` +
        `python3-torch libopenblas0-openmp`,
    );
  }
  return torchRef;
}

export function formatTable(rows: Row[]): string {
  const lines = [
    `${"row".padEnd(24)} ${"hest median".padStart(12)} ${"hest p99".padStart(11)} ${
      "torch median".padStart(13)
    } ${"ratio".padStart(8)} ${"torch 2-thr".padStart(12)} ${"ratio".padStart(7)}`,
  ];
  for (const r of rows) {
    const torch = typeof r.torchMedianMs === "number" ? `${r.torchMedianMs.toFixed(2)} ms` : "—";
    const ratio = typeof r.ratio === "number" ? `${r.ratio.toFixed(2)}×` : "—";
    const t2 = typeof r.torchT2MedianMs === "number" ? `${r.torchT2MedianMs.toFixed(2)} ms` : "";
    const r2 = typeof r.ratioT2 === "number" ? `${r.ratioT2.toFixed(2)}×` : "";
    lines.push(
      `${r.name.padEnd(24)} ${`${r.medianMs.toFixed(2)} ms`.padStart(12)} ${
        `${r.p99Ms.toFixed(2)} ms`.padStart(11)
      } ${torch.padStart(13)} ${ratio.padStart(8)} ${t2.padStart(12)} ${r2.padStart(7)}`,
    );
  }
  return lines.join("\n");
}
