/**
 * The Neural Data Transformer's own code as a measured peer: run a driver that trains NDT
 * (snel-repo/neural-data-transformers, PyTorch) on hest's Lorenz data with a wall-time budget,
 * and read the test scores it logs at set training times.
 *
 * hest does not ship NDT or its driver. A driver is any command called as
 * `COMMAND WORKDIR BUDGET_S SEED` that writes `WORKDIR/run<SEED>/log.jsonl`, one JSON line per
 * scored snapshot (a driver of your own wraps NDT's `Runner`; hest only reads its log):
 *
 * ```json
 * {"tag": "periodic", "train_wall_s": 483, "epochs": 150,
 *  "best": {"val": {"co_bps": 0.75}, "test": {"co_bps": 0.755, "oracle_co_bps": 0.824,
 *           "rate_r2": 0.84, "fp_bps": 0.47}}}
 * ```
 *
 * `best` is the checkpoint with the best masked validation loss so far (NDT's own early-stopping
 * choice), scored with nlb_tools' `bits_per_spike` on hest's test trials. The peer needs Python
 * with torch: {@linkcode checkPeerPython} says why it cannot run where it cannot, so a comparison
 * skips the peer's rows with that message rather than failing.
 *
 * @module
 */

/** One scored snapshot of a peer run (test split unless named). */
export interface PeerSnapshot {
  /** Seed of the peer run. */
  seed: number;
  /** What triggered the snapshot (`"periodic"`, `"snap496"`, `"final"`, …). */
  tag: string;
  /** Training wall time at the snapshot, seconds (the peer's own validation passes included). */
  trainSeconds: number;
  /** Passes over the training set so far. */
  epochs: number;
  /** Held-out co-bps on the test split. */
  coBps: number;
  /** Oracle co-bps of the true rates on the same entries. */
  oracleCoBps: number;
  /** Rate R² against the true rates (all neurons, observed bins). */
  rateR2: number;
  /** Forward-prediction bits/spike. */
  fpBps: number;
  /** Held-out co-bps on the validation split. */
  valCoBps: number;
}

function num(v: unknown, what: string, where: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`${where}: expected a finite number at ${what}, found ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Parse a peer driver's `log.jsonl` (see the module doc) into snapshots, in file order. Blank
 * lines are skipped; a line that is not JSON or lacks a score throws, naming the line.
 *
 * @example
 * ```ts
 * import { parsePeerLog } from "@hest/hest";
 * const line = JSON.stringify({
 *   tag: "final", train_wall_s: 500, epochs: 150,
 *   best: { val: { co_bps: 0.75 }, test: { co_bps: 0.76, oracle_co_bps: 0.82, rate_r2: 0.84, fp_bps: 0.47 } },
 * });
 * parsePeerLog(line, { seed: 100 })[0].coBps; // 0.76
 * ```
 */
export function parsePeerLog(
  text: string,
  opts: { seed: number; source?: string },
): PeerSnapshot[] {
  const out: PeerSnapshot[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    const where = `${opts.source ?? "peer log"} line ${i + 1}`;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(lines[i]);
    } catch {
      throw new Error(`${where}: expected a JSON object, found ${JSON.stringify(lines[i])}`);
    }
    // the best-validation checkpoint once there is one, else the current weights
    const scored = (row.best ?? row.last) as Record<string, Record<string, unknown>> | undefined;
    if (!scored?.test || !scored?.val) {
      throw new Error(`${where}: expected "best" (or "last") with "val" and "test" scores`);
    }
    out.push({
      seed: opts.seed,
      tag: String(row.tag ?? ""),
      trainSeconds: num(row.train_wall_s, "train_wall_s", where),
      epochs: num(row.epochs, "epochs", where),
      coBps: num(scored.test.co_bps, "test.co_bps", where),
      oracleCoBps: num(scored.test.oracle_co_bps, "test.oracle_co_bps", where),
      rateR2: num(scored.test.rate_r2, "test.rate_r2", where),
      fpBps: num(scored.test.fp_bps, "test.fp_bps", where),
      valCoBps: num(scored.val.co_bps, "val.co_bps", where),
    });
  }
  return out;
}

/**
 * The snapshot a comparison quotes at a wall-time budget: the last one taken at or before
 * `seconds` (the model a run stopped at that time would have), or `undefined` if none was.
 *
 * @example
 * ```ts
 * import { type PeerSnapshot, snapshotAt } from "@hest/hest";
 * const s = (t: number) => ({ trainSeconds: t, coBps: t / 1000 }) as PeerSnapshot;
 * snapshotAt([s(120), s(240), s(360)], 300)?.trainSeconds; // 240
 * ```
 */
export function snapshotAt(
  snaps: readonly PeerSnapshot[],
  seconds: number,
): PeerSnapshot | undefined {
  let best: PeerSnapshot | undefined;
  for (const s of snaps) {
    if (s.trainSeconds <= seconds && (!best || s.trainSeconds >= best.trainSeconds)) best = s;
  }
  return best;
}

/**
 * The wall times (s) at which a comparison table quotes the peer: each hest row's time, rounded,
 * and the peer's own budget, sorted and without repeats. A hest time past the budget is quoted at
 * the budget: the peer had stopped training by then, and a later row would repeat its final
 * checkpoint under another label.
 *
 * @example
 * ```ts
 * import { peerRowTimes } from "@hest/hest";
 * peerRowTimes([126.4, 599, 2261], 2050); // [126, 599, 2050]
 * ```
 */
export function peerRowTimes(hestSeconds: readonly number[], budget: number): number[] {
  if (!(budget > 0) || !Number.isFinite(budget)) {
    throw new RangeError(`budget must be a finite number of seconds > 0, found ${budget}`);
  }
  const times = hestSeconds.map((t, i) => {
    if (!(t >= 0) || !Number.isFinite(t)) {
      throw new RangeError(`hestSeconds[${i}] must be a finite number >= 0, found ${t}`);
    }
    return Math.min(Math.round(t), budget);
  });
  return [...new Set([...times, budget])].sort((a, b) => a - b);
}

/**
 * Why the peer cannot run with this Python (the import error of torch or of one of the other
 * modules NDT's driver needs), or `undefined` when it can.
 *
 * @example
 * ```ts
 * import { checkPeerPython } from "@hest/hest";
 * const why = await checkPeerPython("/usr/bin/python3");
 * if (why) console.log(`NDT peer skipped: ${why}`);
 * ```
 */
export async function checkPeerPython(python: string): Promise<string | undefined> {
  const modules = ["torch", "h5py", "scipy", "sklearn", "yaml"];
  try {
    const r = await new Deno.Command(python, {
      args: ["-c", `import ${modules.join(", ")}`],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (r.success) return undefined;
    const err = new TextDecoder().decode(r.stderr).trim().split("\n").pop() ?? "";
    return `${python} cannot import the peer's modules (${modules.join(", ")}): ${err}`;
  } catch (e) {
    return `cannot run ${python}: ${(e as Error).message}`;
  }
}

/** Options of {@linkcode runPeer}. */
export interface PeerRunOptions {
  /** The driver command (run through `sh -c`, followed by WORKDIR BUDGET_S SEED). */
  command: string;
  /** Work folder of the driver (its data export and `run<SEED>/`). */
  workDir: string;
  /** Training wall-time budget, seconds. */
  budgetS: number;
  /** Seed of the peer run. */
  seed: number;
}

/**
 * Run the peer driver once and return its snapshots. The driver's output goes to
 * `WORKDIR/driver<SEED>.log`; a failing driver throws with that log's last lines.
 *
 * @example
 * ```ts ignore
 * import { runPeer } from "@hest/hest";
 * const snaps = await runPeer({
 *   command: "./train_ndt.sh", workDir: "/tmp/ndt", budgetS: 500, seed: 100,
 * });
 * ```
 */
export async function runPeer(opts: PeerRunOptions): Promise<PeerSnapshot[]> {
  await Deno.mkdir(opts.workDir, { recursive: true });
  const logPath = `${opts.workDir}/driver${opts.seed}.log`;
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const line = `${opts.command} ${quote(opts.workDir)} ${opts.budgetS} ${opts.seed}`;
  const file = await Deno.open(logPath, { write: true, create: true, truncate: true });
  const child = new Deno.Command("sh", {
    args: ["-c", `${line} 2>&1`],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  await child.stdout.pipeTo(file.writable);
  const status = await child.status;
  if (!status.success) {
    const tail = (await Deno.readTextFile(logPath)).trim().split("\n").slice(-8).join("\n");
    throw new Error(`the peer driver failed (exit ${status.code}): ${line}\n${tail}`);
  }
  const log = `${opts.workDir}/run${opts.seed}/log.jsonl`;
  return parsePeerLog(await Deno.readTextFile(log), { seed: opts.seed, source: log });
}
