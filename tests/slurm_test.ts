/**
 * A real Slurm: scripts/slurm_local.sh starts a one-node cluster (munged, slurmctld, slurmd) in a
 * temporary folder, `deno task sweep --slurm` submits a 4-task job array of tiny runs to it, and
 * the collected results must equal a `--local` run of the same spec, to the bit.
 *
 * Needs Debian's slurmctld, slurmd, slurm-client and munge (or slurm-wlm + munge); the daemons run
 * as the current user (no root needed). Without the packages the test fails saying what to install.
 */
import assert from "node:assert/strict";
import type { SweepResults, SweepRow } from "../lib/experiments/sweep_collect.ts";
import { ROOT, runScript } from "./_script_util.ts";

const DAEMONS = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo"];

async function which(bin: string): Promise<boolean> {
  for (const dir of [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin"]) {
    try {
      if ((await Deno.stat(`${dir}/${bin}`)).isFile) return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

async function sh(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(cmd, { args, env: { NO_COLOR: "1", ...env }, stdin: "null" })
    .output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    err: new TextDecoder().decode(r.stderr),
  };
}

function stable(rows: readonly SweepRow[]): SweepRow[] {
  return rows.map((r) => {
    const { wallSeconds: _w, trainSeconds: _t, ...rest } = r;
    return rest as SweepRow;
  }).sort((a, b) => `${a.id}/${a.mode}`.localeCompare(`${b.id}/${b.mode}`));
}

Deno.test("slurm: a 4-task job array on a one-node cluster equals the --local run", async () => {
  const missing: string[] = [];
  for (const b of DAEMONS) if (!(await which(b))) missing.push(b);
  if (missing.length > 0) {
    assert.fail(
      `Slurm is not installed (${missing.join(", ")} not found). Install Debian's packages: ` +
        `apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge ` +
        `(or slurm-wlm munge); the test runs its own cluster as the current user, nothing else to set up`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "hest-slurm-" });
  const cluster = `${dir}/cluster`;
  const helper = `${ROOT}scripts/slurm_local.sh`;
  try {
    const up = await sh("bash", [helper, "start", cluster]);
    assert.equal(up.code, 0, `slurm_local.sh start failed:\n${up.out}${up.err}`);
    const env = { SLURM_CONF: `${cluster}/slurm.conf` };
    const spec = `${dir}/spec.json`;
    await Deno.writeTextFile(
      spec,
      JSON.stringify({
        base: {
          preset: "tiny",
          data: {
            kind: "lorenz",
            options: { conditions: 4, trialsPerCondition: 4, neurons: 12, bins: 20, seed: 3 },
          },
          train: { steps: 3, evalEvery: 3, batchSize: 8 },
        },
        grid: { seed: [0, 1], "train.lr": [2e-3, 6e-3] },
        ensemble: { top: 2 },
      }),
    );
    const out = `${dir}/slurm_out`;
    const sub = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}scripts/sweep.ts`,
        "--spec",
        spec,
        "--out",
        out,
        "--slurm",
        "--jobs",
        "2",
        "--mem",
        "1G",
        "--time",
        "00:10:00",
        "--partition",
        "debug",
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1", ...env },
    }).output();
    const subText = new TextDecoder().decode(sub.stdout) + new TextDecoder().decode(sub.stderr);
    assert.equal(sub.code, 0, subText);
    const jobId = new TextDecoder().decode(sub.stdout).trim();
    assert.match(jobId, /^\d+$/, subText);
    assert.match(await Deno.readTextFile(`${out}/sweep.sbatch`), /#SBATCH --array=0-3%2\n/);

    // wait for the array to leave the queue (2 minutes at most)
    const deadline = Date.now() + 120_000;
    for (;;) {
      const q = await sh("squeue", ["-h", "-j", jobId, "-o", "%i %T"], env);
      if (q.code === 0 && q.out.trim() === "") break;
      if (Date.now() > deadline) {
        assert.fail(`job ${jobId} still queued after 2 minutes:\n${q.out}${q.err}`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    // every array task completed, as Slurm saw it (no accounting database: scontrol remembers)
    const states = await sh("scontrol", ["show", "job", jobId, "-o"], env);
    const exit = [...states.out.matchAll(/JobState=(\S+).*?ExitCode=(\S+)/g)]
      .map((m) => `${m[1]} ${m[2]}`);
    let logs = "";
    for await (const e of Deno.readDir(`${out}/logs`)) {
      logs += `--- ${e.name}\n${await Deno.readTextFile(`${out}/logs/${e.name}`)}`;
    }
    assert.equal(exit.length, 4, `${states.out}${states.err}\n${logs}`);
    assert.ok(exit.every((s) => s === "COMPLETED 0:0"), `${exit.join(", ")}\n${logs}`);

    const c = await runScript("sweep.ts", ["collect", "--out", out]);
    assert.equal(c.code, 0, c.out + c.err);
    const viaSlurm: SweepResults = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
    assert.equal(viaSlurm.finished, 4, logs);
    // each status names the Slurm job and the task's two log files, which exist
    for (const r of viaSlurm.rows.filter((x) => x.kind === "run")) {
      const s = JSON.parse(await Deno.readTextFile(`${out}/status/${r.id}.json`));
      assert.equal(s.slurmJob, `${jobId}_${r.index}`);
      assert.deepEqual(s.logs, [
        `${out}/logs/slurm-${jobId}_${r.index}.out`,
        `${out}/logs/slurm-${jobId}_${r.index}.err`,
      ]);
      await Deno.stat(s.logs[0]);
    }

    const local = await runScript("sweep.ts", [
      "--spec",
      spec,
      "--out",
      `${dir}/local_out`,
      "--local",
      "--jobs",
      "2",
    ]);
    assert.equal(local.code, 0, local.out + local.err);
    const viaLocal: SweepResults = JSON.parse(
      await Deno.readTextFile(`${dir}/local_out/results.json`),
    );
    assert.equal(viaSlurm.rows.length, 5, "4 runs and the ensemble");
    assert.deepEqual(stable(viaSlurm.rows), stable(viaLocal.rows));

    // everything finished: submitting again has nothing to do
    const again = await runScript("sweep.ts", ["--out", out, "--slurm"]);
    assert.equal(again.code, 0, again.out + again.err);
    assert.match(again.err, /all 4 task\(s\) finished; nothing to submit/);
  } finally {
    const down = await sh("bash", [helper, "stop", cluster]);
    assert.equal(down.code, 0, down.out + down.err);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
