import assert from "node:assert/strict";
import {
  ablationWaterfallSteps,
  compareAccuracyEnergyPoints,
  escapeHtml,
  htmlReport,
  loadAblationResults,
  loadCompareResults,
  parseAblationResults,
  parseCompareResults,
  writeHtmlReport,
} from "../lib/figures/report.ts";
import { firingRateChart } from "../lib/figures/activity_charts.ts";

const stat = (values: (number | null)[]) => {
  const xs = values.map((v) => v ?? NaN);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { mean, sd, values };
};

function ablationJson() {
  return {
    kind: "ablation",
    command: "deno task ablation --seeds 0,1,2",
    dataset: { name: "lorenz" },
    seeds: [0, 1, 2],
    steps: [
      {
        name: "basic",
        label: "basic spiking transformer",
        config: {},
        coBps: stat([0.4, 0.42, 0.44]),
        energyUj: stat([2, 2, 2]),
        firingRate: stat([0.1, 0.1, 0.1]),
        mode: "spiking",
      },
      {
        name: "conv",
        label: "+ conv attention",
        config: { model: { attention: "conv" } },
        coBps: stat([0.45, 0.47, 0.49]),
        energyUj: stat([2.5, 2.4, 2.6]),
        firingRate: { mean: null, sd: null, values: [null, null, null] },
        mode: "spiking",
      },
    ],
  };
}

function compareJson() {
  return {
    kind: "compare",
    command: "deno task compare",
    rows: [
      {
        model: "standard",
        mode: "standard",
        coBps: stat([0.7, 0.72]),
        oracleCoBps: 0.82,
        energyUj: stat([30, 30]),
        trainSeconds: stat([100, 110]),
        params: 74269,
      },
      {
        model: "hybrid",
        mode: "spiking",
        coBps: stat([0.6, 0.62]),
        oracleCoBps: null,
        energyUj: stat([4, 5]),
        trainSeconds: stat([300, 310]),
        params: 80000,
      },
    ],
  };
}

Deno.test("parseAblationResults: typed result, null read as NaN, chart input with sd", () => {
  const r = parseAblationResults(ablationJson());
  assert.equal(r.steps.length, 2);
  assert.deepEqual(r.seeds, [0, 1, 2]);
  assert.ok(Number.isNaN(r.steps[1].firingRate.mean));
  const steps = ablationWaterfallSteps(r);
  assert.equal(steps[0].label, "basic spiking transformer");
  assert.ok(Math.abs(steps[0].coBps - 0.42) < 1e-12);
  assert.ok(Math.abs(steps[0].coBpsSd! - 0.02) < 1e-12); // sd of 0.40, 0.42, 0.44 (n − 1)
  assert.ok(Math.abs(steps[1].energyUj! - 2.5) < 1e-12);
  assert.ok(Math.abs(steps[1].energyUjSd! - 0.1) < 1e-12);
});

Deno.test("parseAblationResults: errors name the source and the field", () => {
  const missing = ablationJson() as Record<string, unknown>;
  delete (missing.steps as Record<string, unknown>[])[1].energyUj;
  assert.throws(
    () => parseAblationResults(missing, "a.json"),
    /^TypeError: a\.json: steps\[1\]\.energyUj is missing$/,
  );
  const bad = ablationJson();
  (bad.steps[0].coBps as { mean: unknown }).mean = "0.4";
  assert.throws(
    () => parseAblationResults(bad, "a.json"),
    /a\.json: steps\[0\]\.coBps\.mean must be a number \(or null for NaN\), found "0\.4"/,
  );
  assert.throws(
    () => parseAblationResults({ ...ablationJson(), kind: "compare" }),
    /kind must be "ablation", found "compare"/,
  );
  assert.throws(
    () => parseAblationResults({ ...ablationJson(), steps: [] }),
    /steps must be a non-empty array/,
  );
  assert.throws(() => parseAblationResults([]), /the file must be an object, found an array/);
  const nan = parseAblationResults(ablationJson());
  nan.steps[0].coBps.mean = NaN;
  assert.throws(
    () => ablationWaterfallSteps(nan),
    /steps\[0\] \(basic\): coBps\.mean and energyUj\.mean must be finite/,
  );
});

Deno.test("parseCompareResults: rows, modes and the chart input", () => {
  const r = parseCompareResults(compareJson());
  assert.equal(r.rows[1].mode, "spiking");
  assert.ok(Number.isNaN(r.rows[1].oracleCoBps));
  const pts = compareAccuracyEnergyPoints(r);
  assert.deepEqual(pts.map((p) => [p.model, p.mode]), [["standard", "standard"], [
    "hybrid",
    "spiking",
  ]]);
  assert.ok(Math.abs(pts[1].energyUj - 4.5) < 1e-12);
  const bad = compareJson();
  (bad.rows[0] as { mode: string }).mode = "fast";
  assert.throws(
    () => parseCompareResults(bad, "c.json"),
    /c\.json: rows\[0\]\.mode must be "standard" or "spiking", found "fast"/,
  );
});

Deno.test("loadAblationResults / loadCompareResults: files, missing files and bad JSON", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.json`, JSON.stringify(ablationJson()));
    await Deno.writeTextFile(`${dir}/c.json`, JSON.stringify(compareJson()));
    await Deno.writeTextFile(`${dir}/bad.json`, "{ not json");
    assert.equal((await loadAblationResults(`${dir}/a.json`)).steps.length, 2);
    assert.equal((await loadCompareResults(`${dir}/c.json`)).rows.length, 2);
    await assert.rejects(() => loadAblationResults(`${dir}/none.json`), Deno.errors.NotFound);
    await assert.rejects(() => loadCompareResults(`${dir}/bad.json`), /bad\.json: not valid JSON/);
    await assert.rejects(
      () => loadCompareResults(`${dir}/a.json`),
      /a\.json: kind must be "compare", found "ablation"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("htmlReport: self-contained page with inline SVG, escaped text and tables", async () => {
  const html = await htmlReport({
    title: "Ablation <run>",
    blocks: [
      { kind: "heading", text: "Figures & tables" },
      { kind: "text", text: "first <para>\n\nsecond para" },
      { kind: "figure", spec: firingRateChart([{ site: "a", rate: 0.1 }]), caption: "rates" },
      {
        kind: "table",
        columns: ["step", "co-bps", "n"],
        rows: [["base", 0.41234567, 3], ["x", null, NaN]],
      },
      { kind: "pre", text: "| a | b |" },
    ],
    footer: "deno task ablation",
  });
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /<title>Ablation &lt;run&gt;<\/title>/);
  assert.match(html, /<h2>Figures &amp; tables<\/h2>/);
  assert.match(html, /<p>first &lt;para&gt;<\/p>\n<p>second para<\/p>/);
  assert.equal((html.match(/<svg[\s>]/g) ?? []).length, 1);
  assert.match(html, /<figcaption>rates<\/figcaption>/);
  assert.match(html, /<td>base<\/td><td>0\.4123<\/td><td>3<\/td>/);
  assert.match(html, /<td>x<\/td><td>—<\/td><td>—<\/td>/);
  assert.match(html, /<pre>\| a \| b \|<\/pre>/);
  // self-contained: no external resources or scripts
  assert.ok(!/<script|<link|src="http/i.test(html));
  await assert.rejects(
    () =>
      htmlReport({ title: "t", blocks: [{ kind: "table", columns: ["a", "b"], rows: [["x"]] }] }),
    /blocks\[0\] table row 0 has 1 cells, expected 2/,
  );
  await assert.rejects(
    () => htmlReport({ title: "t", blocks: [{ kind: "figure" }] }),
    /blocks\[0\] figure needs exactly one of spec or svg/,
  );
  await assert.rejects(
    () =>
      htmlReport({
        title: "t",
        blocks: [{ kind: "figure", svg: "<svg><script>x</script></svg>" }],
      }),
    /without scripts/,
  );
  assert.equal(
    escapeHtml(`<a href="x">'&'</a>`),
    "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;",
  );
});

Deno.test("writeHtmlReport: writes the page atomically into a new folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeHtmlReport(`${dir}/out/report.html`, {
      title: "r",
      blocks: [{ kind: "text", text: "hi" }],
    });
    const names = [];
    for await (const e of Deno.readDir(`${dir}/out`)) names.push(e.name);
    assert.deepEqual(names, ["report.html"]);
    assert.match(await Deno.readTextFile(`${dir}/out/report.html`), /<p>hi<\/p>/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
