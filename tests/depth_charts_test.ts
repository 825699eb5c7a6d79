/**
 * The depth results loader and figures (lib/figures/depth_charts.ts): validation errors name the
 * field, NaN written as null comes back as NaN, and each chart draws exactly the rows it says
 * (the deepest depth and first seed by default, non-finite values and non-positive gradient
 * norms left out of the log scale, ± sd bars).
 */
import assert from "node:assert/strict";
import {
  depthBlockChart,
  depthCoBpsChart,
  loadDepthResults,
  parseDepthResults,
  renderSvg,
} from "../mod.ts";

const stat = (values: (number | null)[]) => {
  const xs = values.map((v) => v ?? NaN);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { mean, sd: xs.length > 1 ? sd : 0, values };
};

function sample(): Record<string, unknown> {
  return {
    kind: "depth",
    command: "deno task depth --depths 4,16",
    settings: {
      depths: [4, 16],
      seeds: [0, 1],
      steps: 10,
      width: 32,
      formLabels: { add: "SEW ADD" },
    },
    summary: [
      {
        depth: 4,
        schedule: "standard",
        form: "standard",
        mode: "standard",
        coBps: stat([0.5, 0.6]),
      },
      { depth: 16, schedule: "spiking", form: "add", mode: "spiking", coBps: stat([0.2, 0.4]) },
      { depth: 16, schedule: "spiking", form: "plain", mode: "spiking", coBps: stat([null, null]) },
    ],
    gradients: [
      {
        depth: 16,
        schedule: "spiking",
        form: "add",
        seed: 0,
        mode: "spiking",
        when: "init",
        step: 0,
        gradNorms: [1, null, 0, 2],
        firingRates: [0.1, 0.2, null, 0.05],
        deadFraction: [0, 0.5, 1, 0],
      },
      // other seed and depth: not drawn by default
      {
        depth: 16,
        schedule: "spiking",
        form: "add",
        seed: 1,
        mode: "spiking",
        when: "init",
        gradNorms: [9],
      },
      {
        depth: 4,
        schedule: "standard",
        form: "standard",
        seed: 0,
        mode: "standard",
        when: "final",
        gradNorms: [7],
      },
    ],
  };
}

type Data = { values: Record<string, unknown>[] };

Deno.test("depth results: parsed fields, null as NaN, defaults", () => {
  const r = parseDepthResults(sample());
  assert.deepEqual(r.depths, [4, 16]);
  assert.deepEqual(r.seeds, [0, 1]);
  assert.equal(r.formLabels.add, "SEW ADD");
  assert.ok(Number.isNaN(r.summary[2].coBps.values[0]));
  assert.ok(Number.isNaN(r.gradients[0].gradNorms[1]));
  assert.equal(r.gradients[1].firingRates, undefined);
  const noLabels = sample();
  delete (noLabels.settings as Record<string, unknown>).formLabels;
  assert.deepEqual(parseDepthResults(noLabels).formLabels, {});
});

Deno.test("depth results: errors name the file and the field", async () => {
  const bad = (mutate: (o: Record<string, unknown>) => void, re: RegExp) => {
    const o = sample();
    mutate(o);
    assert.throws(() => parseDepthResults(o, "x.json"), re);
  };
  bad((o) => (o.kind = "ablation"), /x\.json: kind must be "depth", found "ablation"/);
  bad((o) => delete o.summary, /x\.json: summary is missing/);
  bad(
    (o) => ((o.summary as Record<string, unknown>[])[1].mode = "fast"),
    /summary\[1\]\.mode must be "standard" or "spiking", found "fast"/,
  );
  bad(
    (o) => ((o.gradients as Record<string, unknown>[])[0].when = "later"),
    /gradients\[0\]\.when must be "init" or "final"/,
  );
  bad(
    (o) => ((o.settings as Record<string, unknown>).depths = [4, "16"]),
    /settings\.depths\[1\] must be a number/,
  );
  const dir = await Deno.makeTempDir();
  await assert.rejects(() => loadDepthResults(`${dir}/none.json`), Deno.errors.NotFound);
  await Deno.writeTextFile(`${dir}/bad.json`, "{");
  await assert.rejects(() => loadDepthResults(`${dir}/bad.json`), /bad\.json: not valid JSON/);
});

Deno.test("depthCoBpsChart: finite rows only, mean ± sd, labels from formLabels", async () => {
  const r = parseDepthResults(sample());
  const spec = depthCoBpsChart(r)! as unknown as { data: Data };
  const rows = spec.data.values;
  assert.equal(rows.length, 2, "the all-NaN plain row is left out");
  const spk = rows.find((x) => x.mode === "spiking")!;
  assert.equal(spk.series, "spiking · SEW ADD");
  assert.ok(Math.abs((spk.mean as number) - 0.3) < 1e-12);
  const sd = Math.sqrt(((0.2 - 0.3) ** 2 + (0.4 - 0.3) ** 2) / 1);
  assert.ok(Math.abs((spk.lo as number) - (0.3 - sd)) < 1e-12);
  assert.ok(Math.abs((spk.hi as number) - (0.3 + sd)) < 1e-12);
  assert.equal(rows.find((x) => x.mode === "standard")!.series, "standard");
  assert.match(await renderSvg(spec as never), /<svg/);
  const empty = parseDepthResults({ ...sample(), summary: [] });
  assert.equal(depthCoBpsChart(empty), null);
});

Deno.test("depthBlockChart: deepest depth and first seed, finite values, positive norms", () => {
  const r = parseDepthResults(sample());
  const g = (depthBlockChart(r, "gradNorms")! as unknown as { data: Data }).data.values;
  // block 1 is NaN and block 2 is 0 (no place on a log scale): blocks 0 and 3 remain
  assert.deepEqual(g.map((x) => [x.block, x.value]), [[0, 1], [3, 2]]);
  assert.equal(g[0].when, "at init");
  const f = (depthBlockChart(r, "firing")! as unknown as { data: Data }).data.values;
  assert.deepEqual(
    f.filter((x) => x.metric === "firing rate").map((x) => x.block),
    [0, 1, 3],
  );
  assert.deepEqual(f.filter((x) => x.metric === "dead fraction").map((x) => x.value), [
    0,
    0.5,
    1,
    0,
  ]);
  const other = depthBlockChart(r, "gradNorms", { depth: 4 })! as unknown as { data: Data };
  assert.deepEqual(other.data.values.map((x) => [x.value, x.when, x.mode]), [[
    7,
    "after training",
    "standard steps",
  ]]);
  assert.equal(depthBlockChart(r, "firing", { depth: 4 }), null, "standard steps have no firing");
});
