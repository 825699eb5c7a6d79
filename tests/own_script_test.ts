/**
 * A user's own experiment script, outside the repository, uses hest the way the README says:
 * `deno run -A --config <hest>/deno.json my_script.ts` with `import … from "@hest/hest"` (the
 * config's import map resolves hest and its npm dependencies; without it Deno refuses the bare
 * npm names hest imports).
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

Deno.test("own script outside the repo: --config <hest>/deno.json resolves @hest/hest and trains", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hest_user_" });
  try {
    const script = join(dir, "my_experiment.ts");
    await Deno.writeTextFile(
      script,
      `import { evaluate, key, lorenzDataset, predict, train, transformerFor, useBackend } from "@hest/hest";
await useBackend("wasm");
const ds = lorenzDataset({ conditions: 4, trialsPerCondition: 6, seed: 1 });
const model = transformerFor(ds, { dModel: 16, nLayers: 1, nHeads: 2, dFF: 32 });
const { params } = await train(model, ds, { steps: 5, batchSize: 8, evalEvery: 5, key: key(0) });
const preds = await predict(model, params, ds);
const r = await evaluate(preds, ds, { split: "test" });
console.log(JSON.stringify({ coBps: r.coBps, n: ds.split.test.length }));
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", join(ROOT, "deno.json"), script],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, `exit ${out.code}\n${stderr.slice(-3000)}`);
    const line = stdout.trim().split("\n").pop()!;
    const r = JSON.parse(line);
    assert.ok(Number.isFinite(r.coBps), line);
    assert.ok(r.n > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
