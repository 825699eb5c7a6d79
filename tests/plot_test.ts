import assert from "node:assert/strict";
import * as vl from "vega-lite";
import {
  accuracyEnergyChart,
  type ChartSpec,
  trainingCurvesChart,
  WATERFALL_COLORS,
  waterfallBars,
  waterfallChart,
} from "../lib/figures/charts.ts";
import {
  firingRateChart,
  RASTER_COLORS,
  rasterChart,
  trialMatrix,
} from "../lib/figures/activity_charts.ts";
import { figure, JUPYTER_DISPLAY, show } from "../lib/figures/notebook.ts";
import { renderPng, renderSvg, saveFigure, svgToPng } from "../lib/figures/render.ts";
import { modelColor } from "../lib/figures/style.ts";

interface Mark {
  label: string;
  fill: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Every SVG element with `aria-roledescription="<role>"`, with its label, fill and rect. */
function marks(svg: string, role: string): Mark[] {
  const out: Mark[] = [];
  for (const m of svg.matchAll(/<(?:path|line)\s[^>]*>/g)) {
    const tag = m[0];
    if (!tag.includes(`aria-roledescription="${role}"`)) continue;
    const attr = (name: string) => tag.match(new RegExp(`\\s${name}="([^"]*)"`))?.[1] ?? "";
    const d = attr("d").match(/^M([-\d.e]+),([-\d.e]+)h([-\d.e]+)v([-\d.e]+)h/);
    out.push({
      label: attr("aria-label"),
      fill: attr("fill"),
      x: d ? +d[1] : NaN,
      y: d ? +d[2] : NaN,
      w: d ? +d[3] : NaN,
      h: d ? +d[4] : NaN,
    });
  }
  return out;
}

function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}

function compiles(spec: ChartSpec): void {
  const vg = vl.compile(spec).spec;
  assert.ok(vg.marks && vg.marks.length > 0, "compiled Vega spec has marks");
}

const close = (a: number, b: number, tol = 1e-9) =>
  assert.ok(Math.abs(a - b) <= tol, `expected ${b}, found ${a} (tolerance ${tol})`);

Deno.test("waterfallBars: cumulative arithmetic on a hand example, absolute and delta", () => {
  const expected = [[0, 0.5], [0.5, 0.6], [0.6, 0.55]];
  const abs = waterfallBars([
    { label: "base", value: 0.5 },
    { label: "+A", value: 0.6 },
    { label: "+B", value: 0.55 },
  ]);
  const del = waterfallBars([
    { label: "base", value: 0.5 },
    { label: "+A", value: 0.1 },
    { label: "+B", value: -0.05 },
  ], { values: "delta" });
  for (const bars of [abs, del]) {
    bars.forEach((b, i) => {
      close(b.start, expected[i][0], 1e-12);
      close(b.end, expected[i][1], 1e-12);
    });
    close(bars[1].delta, 0.1, 1e-12);
    close(bars[2].delta, -0.05, 1e-12);
    assert.deepEqual(bars.map((b) => b.direction), ["baseline", "up", "down"]);
    assert.deepEqual(bars.map((b) => b.effect), ["baseline", "better", "worse"]);
  }
  // for energy a decrease is the improvement
  const energy = waterfallBars([
    { label: "a", value: 2 },
    { label: "b", value: 3 },
    { label: "c", value: 1 },
    { label: "d", value: 1 },
  ], { higherIsBetter: false });
  assert.deepEqual(energy.map((b) => b.effect), ["baseline", "worse", "better", "unchanged"]);
});

Deno.test("waterfallChart: bars float between cumulative values; down steps drawn red", async () => {
  const spec = waterfallChart([
    { label: "base", coBps: 0.5, coBpsSd: 0.02, energyUj: 2 },
    { label: "+A", coBps: 0.6, coBpsSd: 0.01, energyUj: 2.5 },
    { label: "+B", coBps: 0.55, energyUj: 1.5, energyUjSd: 0.1 },
  ]);
  compiles(spec);
  const svg = await renderSvg(spec);
  const bars = marks(svg, "bar");
  assert.equal(bars.length, 6, "3 co-bps bars + 3 energy bars");
  const [base, a, b, eBase, eA, eB] = bars;
  // co-bps panel: colours by effect
  assert.equal(base.fill, WATERFALL_COLORS.baseline);
  assert.equal(a.fill, WATERFALL_COLORS.better);
  assert.equal(b.fill, WATERFALL_COLORS.worse, "the component that hurts is a red bar");
  assert.match(b.label, /label: \+B/);
  // geometry: heights proportional to |change| (0.5, 0.1, 0.05) on a linear axis from 0
  close(a.h / base.h, 0.1 / 0.5, 1e-6);
  close(b.h / base.h, 0.05 / 0.5, 1e-6);
  // +A spans 0.5 → 0.6 and +B 0.6 → 0.55: both tops at y(0.6), +B ends at y(0.55)
  close(a.y, b.y, 1e-6);
  close(a.y + a.h, base.y, 1e-6); // +A starts where the baseline ends
  const pxPerUnit = base.h / 0.5;
  close(b.y + b.h, base.y - 0.05 * pxPerUnit, 1e-6);
  // energy panel: up is worse, down is better
  assert.equal(eBase.fill, WATERFALL_COLORS.baseline);
  assert.equal(eA.fill, WATERFALL_COLORS.worse);
  assert.equal(eB.fill, WATERFALL_COLORS.better);
  close(eA.h / eBase.h, 0.5 / 2, 1e-6);
  close(eB.h / eBase.h, 1 / 2, 1e-6);
  // error bars: two caps for each step with sd > 0 (base, +A; energy +B)
  assert.equal(marks(svg, "tick").length, 6);
  const t = texts(svg);
  for (
    const s of [
      "co-bps (bits/spike)",
      "energy per sample (µJ)",
      "+0.100",
      "\u22120.050",
      "0.500",
      "+0.50",
      "\u22121.00",
    ]
  ) assert.ok(t.includes(s), `text ${JSON.stringify(s)} in the SVG`);
});

Deno.test("waterfallChart: co-bps only when no energy is given", async () => {
  const svg = await renderSvg(
    waterfallChart([{ label: "a", coBps: 0.2 }, { label: "b", coBps: 0.1 }], { title: "T" }),
  );
  assert.equal(marks(svg, "bar").length, 2);
  assert.ok(!texts(svg).includes("energy per sample (µJ)"));
});

Deno.test("waterfallChart / waterfallBars: bad input throws a clear error", () => {
  assert.throws(() => waterfallChart([]), /waterfallChart: steps must not be empty/);
  assert.throws(
    () => waterfallChart([{ label: "a", coBps: 0.1 }, { label: "b", coBps: NaN }]),
    /steps\[1\]\.coBps must be a finite number, found NaN/,
  );
  assert.throws(
    () => waterfallChart([{ label: "a", coBps: 0.1, energyUj: 1 }, { label: "b", coBps: 0.2 }]),
    /energyUj must be given for every step or none; steps\[1\]/,
  );
  assert.throws(
    () => waterfallBars([{ label: "a", value: 1 }, { label: "a", value: 2 }]),
    /label "a" is used twice/,
  );
  assert.throws(
    () => waterfallBars([{ label: "a", value: 1, sd: -1 }]),
    /values\[0\]\.sd must be >= 0, found -1/,
  );
});

Deno.test("accuracyEnergyChart: log energy axis, error bars both ways, colour and shape", async () => {
  const spec = accuracyEnergyChart([
    { model: "standard", mode: "standard", coBps: 0.7, energyUj: 1, coBpsSd: 0.02 },
    { model: "hybrid", mode: "spiking", coBps: 0.5, energyUj: 10, energyUjSd: 2 },
    { model: "hybrid", mode: "standard", coBps: 0.6, energyUj: 100 },
  ]);
  compiles(spec);
  const svg = await renderSvg(spec);
  const pts = [...svg.matchAll(/aria-roledescription="point" transform="translate\(([-\d.e]+),/g)]
    .map((m) => +m[1]);
  assert.equal(pts.length, 3);
  // log axis: 1, 10, 100 are equally spaced
  close(pts[1] - pts[0], pts[2] - pts[1], 1e-6);
  assert.ok(pts[1] > pts[0]);
  // one vertical (co-bps sd) and one horizontal (energy sd) error bar
  assert.equal((svg.match(/aria-roledescription="rule mark"/g) ?? []).length, 2);
  const t = texts(svg);
  for (const s of ["energy per sample (µJ, log scale)", "co-bps", "model", "mode"]) {
    assert.ok(t.includes(s), `text ${JSON.stringify(s)} in the SVG`);
  }
  assert.ok(t.includes("hybrid · spiking"), "point labels");
  assert.throws(
    () => accuracyEnergyChart([{ model: "a", mode: "b", coBps: 0.1, energyUj: 0 }]),
    /points\[0\]\.energyUj must be > 0 \(the energy axis is logarithmic\), found 0/,
  );
  assert.throws(() => accuracyEnergyChart([]), /points must not be empty/);
  assert.throws(
    () => accuracyEnergyChart([{ model: "a", mode: "b", coBps: Infinity, energyUj: 1 }]),
    /points\[0\]\.coBps must be a finite number, found Infinity/,
  );
});

Deno.test("trainingCurvesChart: one panel per metric, one line per run/mode", async () => {
  const records = [];
  for (let s = 1; s <= 10; s++) {
    records.push({ step: s, metric: "train loss", value: 1 / s, mode: "standard" });
    records.push({ step: s, metric: "train loss", value: 1.2 / s, mode: "spiking" });
  }
  records.push({ step: 5, metric: "val co-bps", value: 0.2, mode: "standard" });
  records.push({ step: 10, metric: "val co-bps", value: 0.3, mode: "standard" });
  const spec = trainingCurvesChart(records);
  compiles(spec);
  const svg = await renderSvg(spec);
  assert.equal((svg.match(/aria-roledescription="line mark"/g) ?? []).length, 3);
  const t = texts(svg);
  for (const s of ["train loss", "val co-bps", "step", "standard", "spiking"]) {
    assert.ok(t.includes(s), `text ${JSON.stringify(s)} in the SVG`);
  }
  assert.throws(
    () => trainingCurvesChart([{ step: 1, metric: "m", value: NaN }]),
    /records\[0\]\.value must be a finite number, found NaN/,
  );
  assert.throws(() => trainingCurvesChart([]), /records must not be empty/);
});

Deno.test("rasterChart: one panel per neuron with counts, true and predicted rates", async () => {
  const bins = 5, n = 3;
  const counts = Array.from(
    { length: bins },
    (_, b) => Array.from({ length: n }, (_, j) => (b + j) % 3),
  );
  const rates = counts.map((r) => r.map((x) => x + 0.5));
  const spec = rasterChart(
    { counts, trueRates: rates, predRates: rates, binMs: 20, neurons: [0, 2] },
    { title: "trial" },
  );
  compiles(spec);
  const svg = await renderSvg(spec);
  // 2 neurons × 5 bins of spike-count points, 2 neurons × 2 rate lines
  const points = marks(svg, "point").filter((m) => m.label.includes("spike count"));
  assert.equal(points.length, 2 * bins);
  const lines = [...svg.matchAll(/aria-roledescription="line mark"[^>]*stroke="([^"]*)"/g)]
    .map((m) => m[1]);
  assert.equal(lines.length, 4);
  assert.equal(lines.filter((c) => c === RASTER_COLORS.trueRate).length, 2);
  assert.equal(lines.filter((c) => c === RASTER_COLORS.predRate).length, 2);
  const t = texts(svg);
  for (const s of ["neuron 0", "neuron 2", "time (ms)", "spike count", "predicted rate"]) {
    assert.ok(t.includes(s), `text ${JSON.stringify(s)} in the SVG`);
  }
  assert.ok(!t.includes("neuron 1"));
  assert.throws(
    () => rasterChart({ counts, predRates: rates.slice(1), binMs: 20 }),
    /predRates must have the shape of counts \[5\]\[3\], found \[4\]\[3\]/,
  );
  assert.throws(
    () => rasterChart({ counts, predRates: rates, binMs: 20, neurons: [3] }),
    /neurons\[0\] must be an integer neuron index in \[0, 2\], found 3/,
  );
  assert.throws(
    () => rasterChart({ counts: [[0, NaN]], predRates: [[0, 1]], binMs: 20 }),
    /counts\[0\]\[1\] must be a finite number >= 0, found NaN/,
  );
  assert.throws(
    () => rasterChart({ counts: [], predRates: [], binMs: 20 }),
    /counts must not be empty/,
  );
});

Deno.test("firingRateChart: one bar per site and series, heights proportional to rates", async () => {
  const single = await renderSvg(firingRateChart([
    { site: "block0.q", rate: 0.1 },
    { site: "block0.k", rate: 0.05 },
    { site: "block1.q", rate: 0.2 },
  ]));
  const bars = marks(single, "bar");
  assert.equal(bars.length, 3);
  close(bars[1].h / bars[0].h, 0.5, 1e-6);
  close(bars[2].h / bars[0].h, 2, 1e-6);
  assert.ok(texts(single).includes("firing rate (spikes / neuron / step)"));
  const grouped = await renderSvg(firingRateChart([
    { site: "a", rate: 0.1, model: "hybrid", mode: "spiking" },
    { site: "b", rate: 0.2, model: "hybrid", mode: "spiking" },
    { site: "a", rate: 0.3, model: "basic", mode: "spiking" },
    { site: "b", rate: 0.4, model: "basic", mode: "spiking" },
  ]));
  const groupedBars = marks(grouped, "bar");
  assert.equal(groupedBars.length, 4);
  // colour by model (its colour in every chart); one mode: no mode legend
  for (const s of ["model", "basic", "hybrid"]) assert.ok(texts(grouped).includes(s), s);
  assert.ok(!texts(grouped).includes("mode"));
  for (const bar of groupedBars) {
    const model = bar.label.match(/model: (\w+)/)?.[1] ?? "";
    assert.equal(bar.fill.toUpperCase(), modelColor(model).toUpperCase(), bar.label);
  }
  // one model in two modes: one colour, the modes told apart by opacity
  const modes = await renderSvg(firingRateChart([
    { site: "a", rate: 0.1, model: "hybrid", mode: "spiking" },
    { site: "a", rate: 0.2, model: "hybrid", mode: "standard" },
  ]));
  const modeBars = [...modes.matchAll(/<path\s[^>]*aria-roledescription="bar"[^>]*>/g)]
    .map((m) => m[0]);
  assert.equal(modeBars.length, 2);
  assert.equal(new Set(modeBars.map((t) => t.match(/\sfill="([^"]*)"/)?.[1])).size, 1);
  assert.equal(new Set(modeBars.map((t) => t.match(/\sopacity="([^"]*)"/)?.[1])).size, 2);
  assert.ok(texts(modes).includes("mode"));
  assert.throws(
    () => firingRateChart([{ site: "a", rate: 1.5 }]),
    /rows\[0\]\.rate must be in \[0, 1\].*found 1\.5/,
  );
  assert.throws(() => firingRateChart([]), /rows must not be empty/);
});

function pngSize(png: Uint8Array): [number, number] {
  const v = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return [v.getUint32(16), v.getUint32(20)];
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

Deno.test("renderPng: PNG signature and the requested size", async () => {
  const spec = firingRateChart([{ site: "a", rate: 0.1 }, { site: "b", rate: 0.2 }]);
  const svg = await renderSvg(spec);
  const w = +svg.match(/<svg[^>]*\swidth="([\d.]+)"/)![1];
  const h = +svg.match(/<svg[^>]*\sheight="([\d.]+)"/)![1];
  for (const scale of [1, 2]) {
    const png = await renderPng(spec, { scale });
    assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
    assert.equal(String.fromCharCode(...png.subarray(12, 16)), "IHDR");
    assert.deepEqual(pngSize(png), [Math.round(w * scale), Math.round(h * scale)]);
  }
  // text is drawn: the same chart without its labels rasterises to different pixels
  const bare = svg.replace(/<text[^>]*>[^<]*<\/text>/g, "");
  assert.notDeepEqual(await svgToPng(svg, { scale: 1 }), await svgToPng(bare, { scale: 1 }));
  await assert.rejects(
    () => svgToPng(svg, { fontFiles: ["/nonexistent/font.ttf"] }),
    /cannot read font file \/nonexistent\/font\.ttf/,
  );
  await assert.rejects(() => svgToPng(svg, { scale: 0 }), /scale must be a positive number/);
});

Deno.test("saveFigure: writes svg, png and spec atomically, creating the folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const spec = firingRateChart([{ site: "a", rate: 0.1 }]);
    const files = await saveFigure(spec, `${dir}/figs/rates`, { formats: ["svg", "png", "json"] });
    assert.deepEqual(files, [
      `${dir}/figs/rates.svg`,
      `${dir}/figs/rates.png`,
      `${dir}/figs/rates.vl.json`,
    ]);
    assert.match(await Deno.readTextFile(files[0]), /^<svg/);
    assert.deepEqual([...(await Deno.readFile(files[1])).subarray(0, 8)], PNG_SIGNATURE);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(files[2])), spec);
    const names = [];
    for await (const e of Deno.readDir(`${dir}/figs`)) names.push(e.name);
    assert.deepEqual(
      names.sort(),
      ["rates.png", "rates.svg", "rates.vl.json"],
      "no temp files left",
    );
    await assert.rejects(
      () => saveFigure(spec, `${dir}/x`, { formats: ["pdf" as "svg"] }),
      /formats must be "svg", "png" or "json", found "pdf"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("figure: Jupyter display protocol returns the SVG bundle", async () => {
  const spec = firingRateChart([{ site: "a", rate: 0.1 }], { title: "rates" });
  const fig = await figure(spec, { png: true });
  assert.equal(JUPYTER_DISPLAY, Symbol.for("Jupyter.display"));
  const display = (fig as unknown as Record<symbol, () => Record<string, string>>)[
    Symbol.for("Jupyter.display")
  ];
  const bundle = display.call(fig);
  assert.equal(bundle["image/svg+xml"], fig.svg);
  assert.match(bundle["image/svg+xml"], /^<svg/);
  assert.equal(bundle["text/plain"], "[figure: rates]");
  const png = Uint8Array.from(atob(bundle["image/png"]), (c) => c.charCodeAt(0));
  assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
});

Deno.test("show: outside Jupyter prints the text form", async () => {
  const logged: unknown[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => logged.push(...a);
  try {
    await show("**hello**");
    await show(firingRateChart([{ site: "a", rate: 0.1 }], { title: "rates" }));
  } finally {
    console.log = orig;
  }
  assert.deepEqual(logged, ["**hello**", "[figure: rates]"]);
  await assert.rejects(() => show(42 as unknown as string), /show: content must be/);
});

Deno.test("trialMatrix: one trial of a [trials, bins, n] array", () => {
  const a = { data: Float32Array.from({ length: 12 }, (_, i) => i), shape: [2, 3, 2] };
  assert.deepEqual(trialMatrix(a, 1), [[6, 7], [8, 9], [10, 11]]);
  assert.throws(() => trialMatrix(a, 2), /trial must be an integer in \[0, 1\], found 2/);
  assert.throws(
    () => trialMatrix({ data: new Float32Array(5), shape: [2, 3, 2] }, 0),
    /found shape \[2, 3, 2\] and 5 values/,
  );
});

Deno.test("renderSvg: a spec that does not compile names the problem", async () => {
  await assert.rejects(
    () => renderSvg({ mark: "bar", encoding: {}, layer: 3 } as unknown as ChartSpec),
    /renderSvg: the Vega-Lite spec does not compile/,
  );
});

Deno.test("waterfallChart zoom: axis off zero, changes keep their proportions", async () => {
  const svg = await renderSvg(waterfallChart([
    { label: "base", coBps: 0.5 },
    { label: "+A", coBps: 0.6 },
    { label: "+B", coBps: 0.55 },
  ], { zoom: true }));
  const [base, a, b] = marks(svg, "bar");
  close(b.h / a.h, 0.5, 1e-6);
  // the baseline bar starts at 0.5 − 0.25·(0.6 − 0.5) = 0.475: its height is a quarter of +A's
  close(base.h / a.h, 0.25, 1e-6);
  assert.ok(!texts(svg).includes("0.0"), "the axis does not start at 0");
});
