// Scratch (issue 18): staged recipe + model/train overrides from JSON arg; "soft" lif => vReset null.
import { useBackend } from "../lib/core/backend.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { preset, transformerFor } from "../lib/experiments/presets.ts";
import { train } from "../lib/train/train.ts";
import { predict } from "../lib/train/predict.ts";
import { evaluate } from "../lib/eval/evaluate.ts";
import { key } from "../lib/core/random.ts";
await useBackend("wasm");
const [name, json, seeds] = Deno.args;
const ov = JSON.parse(json);
const seed = Number(seeds ?? 0);
if (ov.model?.lif?.vReset === "soft") ov.model.lif.vReset = null;
const ds = lorenzDataset({ seed: 0 });
const p = preset("hybrid");
const model = transformerFor(ds, { ...p.model, cpg: false, tim: false, ...(ov.model ?? {}) } as never, { kind: "hybrid" });
const t0 = performance.now();
const r = await train(model, ds, { ...p.train, steps: 3200, standardFirstFraction: 0.5, seed, ...(ov.train ?? {}) });
const secs = (performance.now() - t0) / 1000;
const out: string[] = [];
for (const mode of ["standard", "spiking"] as const) {
  const pr = await predict(model, r.params as never, ds, { mode, key: key(seed) });
  const ev = await evaluate(pr, ds, { split: "test", onWarning: () => {} });
  out.push(`${mode} ${ev.coBps.toFixed(4)} (${(ev.coBps / ev.oracleCoBps!).toFixed(3)}) R2 ${(ev as any).rateR2?.toFixed(3)}`);
}
const line = `${name} seed ${seed} best ${r.bestStep} ${secs.toFixed(0)} s | ${out.join(" | ")}`;
console.log(line);
await Deno.writeTextFile("runs/e18/results.txt", line + "\n", { append: true });
