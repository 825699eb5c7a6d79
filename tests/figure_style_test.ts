/**
 * The figures' house style, checked on rendered charts: one colour per model across charts, no
 * negative-zero labels, axis titles, a log axis that spans the data, no colliding tick labels,
 * and figure scripts that print nothing on a warm cache.
 */
import assert from "node:assert/strict";
import * as vega from "vega";
import * as vl from "vega-lite";
import {
  accuracyEnergyChart,
  type ChartSpec,
  trainingCurvesChart,
  waterfallChart,
} from "../lib/figures/charts.ts";
import { firingRateChart, rasterChart } from "../lib/figures/activity_charts.ts";
import { renderSvg } from "../lib/figures/render.ts";
import {
  canonicalModel,
  FALLBACK_COLORS,
  formatChange,
  formatFixed,
  MODEL_COLORS,
  modelColor,
  modelColorScale,
} from "../lib/figures/style.ts";
import { scoresChart } from "../scripts/_real_data_report.ts";
import type { RealRow } from "../scripts/real_data.ts";
import { ROOT } from "./_script_util.ts";

// ---------------------------------------------------------------------------------------------
// realistic inputs: values that round to −0.000, energies over five decades

const stat = (mean: number, sd = 0) => ({ mean, sd, values: [mean - sd, mean + sd] });

function realRow(
  model: string,
  label: string,
  mode: RealRow["mode"],
  coBps: number | null,
  velR2: number,
): RealRow {
  return {
    windowMs: 1000,
    model,
    label,
    kind: mode ? "model" : "baseline",
    mode,
    preset: mode ? model : null,
    steps: mode ? 300 : null,
    lr: null,
    coBps: coBps === null ? null : stat(coBps, 0.004),
    valCoBps: null,
    velR2: stat(velR2, 0.01),
    heldInBps: null,
    energyUj: mode ? stat(mode === "spiking" ? 2.2 : 10.1, 0.1) : null,
    firingRate: null,
    seconds: null,
    bestStep: null,
    beatsSmoothingCoBps: null,
    beatsRidgeVelR2: null,
  };
}

const REAL_ROWS: RealRow[] = [
  realRow("smoothing", "smoothing + Poisson GLM", null, 0.0799, 0.519),
  realRow("ridge", "raw-count ridge", null, null, 0.461),
  realRow("standard", "standard transformer", "standard", -0.0003, 0.589),
  realRow("hybrid", "hybrid", "standard", 0.1072, -0.00004),
  realRow("hybrid", "hybrid", "spiking", 0.0903, 0.547),
];

const POINTS = [
  { model: "standard transformer", mode: "standard", coBps: 0.31, coBpsSd: 0.01, energyUj: 0.004 },
  { model: "hybrid", mode: "spiking", coBps: -0.0002, coBpsSd: 0.02, energyUj: 2.5 },
  { model: "hybrid", mode: "standard", coBps: 0.29, energyUj: 850, energyUjSd: 40 },
  { model: "my new model", mode: "spiking", coBps: 0.1, energyUj: 0.3, energyUjSd: 0.5 },
];

const CHARTS: Record<string, ChartSpec> = {
  waterfall: waterfallChart([
    { label: "basic spiking transformer", coBps: -0.0002, coBpsSd: 0.01, energyUj: 20 },
    { label: "+ conv attention", coBps: 0.0001, energyUj: 20.0001, energyUjSd: 0.5 },
    { label: "+ CPG-PE", coBps: 0.3, energyUj: 18 },
    { label: "+ RSM", coBps: 0.29996, energyUj: 17.99996 },
  ]),
  waterfallZoom: waterfallChart([
    { label: "base", coBps: -0.0004, energyUj: 0.5 },
    { label: "+ A", coBps: 0.0003, energyUj: 0.4999 },
  ], { zoom: true, values: "delta" }),
  accuracyEnergy: accuracyEnergyChart(POINTS),
  trainingCurves: trainingCurvesChart([1, 2, 3, 4, 5].flatMap((s) => [
    { step: 100 * s, metric: "train loss", value: 1 / s, mode: "standard" },
    { step: 100 * s, metric: "val co-bps", value: (s - 3) * 0.0001, mode: "spiking" },
  ])),
  raster: rasterChart({
    counts: [[0, 1], [2, 0], [1, 1], [0, 0]],
    predRates: [[0.5, 0.8], [1.2, 0.3], [0.9, 0.7], [0.1, 0.2]],
    binMs: 20,
  }),
  firingRates: firingRateChart([
    { site: "layer0.attn.q", rate: 0.1, model: "hybrid", mode: "spiking" },
    { site: "layer0.attn.q", rate: 0.12, model: "spikformer", mode: "spiking" },
    { site: "layer0.mlp", rate: 0.00004, model: "hybrid", mode: "spiking" },
    { site: "layer0.mlp", rate: 0.08, model: "spikformer", mode: "spiking" },
  ]),
  scores: scoresChart(REAL_ROWS, "s1 reaching: test windows"),
};

// ---------------------------------------------------------------------------------------------
// reading rendered charts

const svgCache = new Map<string, Promise<string>>();
const svgOf = (name: string) => {
  if (!svgCache.has(name)) svgCache.set(name, renderSvg(CHARTS[name]));
  return svgCache.get(name)!;
};

function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}

/** Numbers written with a minus sign that are zero once read: "−0", "-0.000", "−0.0e+0". */
function negativeZeros(s: string): string[] {
  return [...s.matchAll(/[-\u2212]\d[\d,]*(?:\.\d*)?(?:e[-+]?\d+)?/g)]
    .map((m) => m[0])
    .filter((t) => Number(t.replace("\u2212", "-").replaceAll(",", "")) === 0);
}

/** Fill (or stroke) of every mark whose aria-label names `model: <model>`. */
function colorsOf(svg: string, model: string): Set<string> {
  const out = new Set<string>();
  for (const m of svg.matchAll(/<path\s[^>]*>/g)) {
    const tag = m[0];
    const label = tag.match(/aria-label="([^"]*)"/)?.[1] ?? "";
    if (!label.split("; ").includes(`model: ${model}`)) continue;
    const fill = tag.match(/\sfill="([^"]*)"/)?.[1];
    const stroke = tag.match(/\sstroke="([^"]*)"/)?.[1];
    const c = fill && fill !== "none" && fill !== "transparent" ? fill : stroke;
    if (c) out.add(c.toUpperCase());
  }
  return out;
}

interface SceneNode {
  marktype?: string;
  role?: string;
  items?: SceneNode[];
  [key: string]: unknown;
}

/** The scenegraph of a chart, laid out with the text metrics renderSvg installs. */
async function scene(spec: ChartSpec): Promise<{ root: SceneNode; view: vega.View }> {
  await renderSvg(spec); // installs the font metrics layout measures labels with
  const view = new vega.View(vega.parse(vl.compile(structuredClone(spec)).spec), {
    renderer: "none",
  });
  await view.runAsync();
  return { root: (view.scenegraph() as unknown as { root: SceneNode }).root, view };
}

function marksWithRole(node: SceneNode, role: string, out: SceneNode[] = []): SceneNode[] {
  if (node.marktype && node.role === role) out.push(node);
  for (const child of node.items ?? []) marksWithRole(child, role, out);
  return out;
}

interface Box {
  text: string;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/**
 * The visible labels of one axis as boxes in the frame of their (shared) rotation, where each
 * label is an axis-aligned box; vega hides labels it drops for overlap with opacity 0.
 */
function labelBoxes(mark: SceneNode): Box[] {
  const boxes: Box[] = [];
  const width = (vega as unknown as {
    textMetrics: { width: (item: unknown, text: unknown) => number };
  }).textMetrics.width;
  for (const item of mark.items ?? []) {
    const t = String(item.text ?? "");
    if (t === "" || item.opacity === 0) continue;
    const size = Number(item.fontSize ?? 11);
    const w = width(item, t);
    const a = (Number(item.angle ?? 0) * Math.PI) / 180;
    // the anchor in the rotated frame: rotate (x, y) by −angle
    const x = Number(item.x ?? 0), y = Number(item.y ?? 0);
    const ax = x * Math.cos(a) + y * Math.sin(a) + Number(item.dx ?? 0);
    const ay = -x * Math.sin(a) + y * Math.cos(a) + Number(item.dy ?? 0);
    const align = item.align ?? "left";
    const x0 = ax - (align === "center" ? w / 2 : align === "right" ? w : 0);
    const base = item.baseline ?? "alphabetic";
    const y0 = ay - (base === "top" ? 0 : base === "middle" ? size / 2 : size * 0.8);
    boxes.push({ text: t, x0, x1: x0 + w, y0, y1: y0 + size * 0.9 });
  }
  return boxes;
}

// ---------------------------------------------------------------------------------------------
// palette and number formats

Deno.test("style: one colour per model under every spelling, fallbacks deterministic", () => {
  for (
    const [names, canonical] of [
      [["standard", "standard transformer", "Standard Transformer"], "standard transformer"],
      [["spikformer", "basic", "basic spiking transformer"], "basic spiking transformer"],
      [["hybrid", "hybrid (spiking)", "hybrid (alternating)"], "hybrid"],
      [["hybrid-causal", "hybrid_causal", "Hybrid Causal"], "hybrid-causal"],
      [["smoothing + Poisson GLM", "smoothing + GLM", "smoothing"], "smoothing + GLM"],
      [["ridge", "raw-count ridge"], "ridge"],
    ] as const
  ) {
    for (const n of names) {
      assert.equal(canonicalModel(n), canonical, n);
      assert.equal(modelColor(n), MODEL_COLORS[canonical], n);
    }
  }
  const named = new Set(Object.values(MODEL_COLORS));
  assert.equal(named.size, Object.keys(MODEL_COLORS).length, "named models have distinct colours");
  for (const c of FALLBACK_COLORS) assert.ok(!named.has(c), `fallback ${c} is no model's colour`);
  // an unknown model: a fallback colour, the same whatever else the chart shows
  const own = modelColor("my new model");
  assert.ok(FALLBACK_COLORS.includes(own));
  assert.equal(canonicalModel("my new model"), undefined);
  assert.equal(modelColorScale(["hybrid", "my new model"]).range[1], own);
  assert.equal(modelColorScale(["my new model", "standard"]).range[0], own);
  // many unknown models: distinct colours while the fallbacks last, and the same on every call
  const names = Array.from({ length: FALLBACK_COLORS.length }, (_, i) => `variant ${i}`);
  const scale = modelColorScale(["hybrid", ...names, "hybrid"]);
  assert.deepEqual(scale.domain, ["hybrid", ...names]);
  assert.equal(new Set(scale.range).size, scale.range.length);
  assert.deepEqual(modelColorScale(["hybrid", ...names]), scale);
});

Deno.test("style: formatFixed and formatChange never print a negative zero", () => {
  assert.equal(formatFixed(-0.0002, 3), "0.000");
  assert.equal(formatFixed(-0, 2), "0.00");
  assert.equal(formatFixed(0.0004, 3), "0.000");
  assert.equal(formatFixed(-0.0005001, 3), "\u22120.001");
  assert.equal(formatFixed(0.25, 2), "0.25");
  assert.equal(formatChange(0.1, 3), "+0.100");
  assert.equal(formatChange(-0.05, 3), "\u22120.050");
  assert.equal(formatChange(-0.00001, 3), "0.000");
  assert.equal(formatChange(0.00001, 1), "0.0");
});

// ---------------------------------------------------------------------------------------------
// rendered charts

Deno.test("charts: no text or mark label of any chart reads as a negative zero", async () => {
  for (const name of Object.keys(CHARTS)) {
    const svg = await svgOf(name);
    const t = texts(svg);
    assert.ok(t.length > 0, `${name}: has text`);
    assert.deepEqual(t.flatMap(negativeZeros), [], `${name}: text elements`);
    const labels = [...svg.matchAll(/aria-label="([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual(labels.flatMap(negativeZeros), [], `${name}: mark labels`);
  }
  // the values that round to zero are there, printed as zeros
  assert.ok(texts(await svgOf("scores")).includes("0.000"));
  assert.ok(texts(await svgOf("waterfall")).includes("0.000"));
});

Deno.test("charts: axis titles where a reader needs them", async () => {
  const required: Record<string, string[]> = {
    scores: ["co-bps (bits/spike)", "velocity R²", "co-bps (held-out neurons)"],
    accuracyEnergy: ["energy per sample (µJ, log scale)", "co-bps"],
    waterfall: ["co-bps (bits/spike)", "energy per sample (µJ)"],
    firingRates: ["firing rate (spikes / neuron / step)", "site"],
    raster: ["time (ms)", "spikes / bin"],
    trainingCurves: ["step"],
  };
  for (const [name, titles] of Object.entries(required)) {
    const t = texts(await svgOf(name));
    for (const title of titles) assert.ok(t.includes(title), `${name}: ${JSON.stringify(title)}`);
  }
});

Deno.test("accuracyEnergyChart: the log axis spans the data, error bars included, and no more", async () => {
  const { view } = await scene(CHARTS.accuracyEnergy);
  try {
    const [d0, d1] = view.scale("x").domain() as number[];
    const lo = Math.min(
      ...POINTS.map((p) => Math.max(p.energyUj - (p.energyUjSd ?? 0), p.energyUj / 10)),
    );
    const hi = Math.max(...POINTS.map((p) => p.energyUj + (p.energyUjSd ?? 0)));
    assert.ok(d0 < lo && d1 > hi, `domain [${d0}, ${d1}] covers [${lo}, ${hi}] with a margin`);
    // no empty decade at either end: the margin is under a decade
    assert.ok(lo / d0 < 10 && d1 / hi < 10, `domain [${d0}, ${d1}] around [${lo}, ${hi}]`);
    const x = view.scale("x");
    const [r0, r1] = x.range() as number[];
    for (const p of POINTS) {
      const px = x(p.energyUj) as number;
      assert.ok(px > r0 + 3 && px < r1 - 3, `${p.model} · ${p.mode} drawn inside the plot`);
    }
  } finally {
    view.finalize();
  }
  // data within one decade: the axis stays close around it, not 1..100
  const narrow = accuracyEnergyChart([
    { model: "standard", mode: "standard", coBps: 0.7, energyUj: 23 },
    { model: "hybrid", mode: "spiking", coBps: 0.7, energyUj: 4.8 },
    { model: "hybrid", mode: "standard", coBps: 0.71, energyUj: 33 },
  ]);
  const n = await scene(narrow);
  try {
    const [d0, d1] = n.view.scale("x").domain() as number[];
    assert.ok(d0 < 4.8 && d0 > 3, `low end ${d0}`);
    assert.ok(d1 > 33 && d1 < 50, `high end ${d1}`);
  } finally {
    n.view.finalize();
  }
});

/** Pairs of tick labels of one axis that overlap, as "a / b". */
async function overlappingLabels(spec: ChartSpec): Promise<string[]> {
  const { root, view } = await scene(spec);
  try {
    const axes = marksWithRole(root, "axis-label");
    assert.ok(axes.length > 0, "has axis labels");
    const found: string[] = [];
    for (const axis of axes) {
      const boxes = labelBoxes(axis);
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const a = boxes[i], b = boxes[j];
          if (
            a.x0 < b.x1 - 0.5 && b.x0 < a.x1 - 0.5 && a.y0 < b.y1 - 0.5 && b.y0 < a.y1 - 0.5
          ) found.push(`${a.text} / ${b.text}`);
        }
      }
    }
    return found;
  } finally {
    view.finalize();
  }
}

Deno.test("charts: no two tick labels of an axis overlap", async () => {
  const sites = Array.from({ length: 24 }, (_, i) => ({
    site: `layer${i >> 3}.attn.q${i % 8}`,
    rate: 0.05,
  }));
  const manyModels = scoresChart(
    Array.from(
      { length: 12 },
      (_, i) => realRow(`m${i}`, `variant number ${i}`, "standard", 0.1, 0.5),
    ),
    "many models",
  );
  const specs: [string, ChartSpec][] = [
    ...Object.entries(CHARTS),
    ["manySites", firingRateChart(sites)],
    ["manyModels", manyModels],
  ];
  for (const [name, spec] of specs) {
    assert.deepEqual(await overlappingLabels(spec), [], name);
  }
  // the check sees overlaps: 24 slanted site names squeezed into 150 px collide
  const squeezed = await overlappingLabels(firingRateChart(sites, { width: 150 }));
  assert.ok(squeezed.length > 0, "a squeezed axis is caught");
});

Deno.test("charts: a model has the same colour in every chart", async () => {
  const ae = await svgOf("accuracyEnergy");
  const scores = await svgOf("scores");
  const rates = await svgOf("firingRates");
  const hybrid = MODEL_COLORS["hybrid"].toUpperCase();
  assert.deepEqual(colorsOf(ae, "hybrid"), new Set([hybrid]), "accuracy vs energy");
  assert.deepEqual(colorsOf(scores, "hybrid"), new Set([hybrid]), "score bars (both modes)");
  assert.deepEqual(colorsOf(rates, "hybrid"), new Set([hybrid]), "firing rates");
  const standard = MODEL_COLORS["standard transformer"].toUpperCase();
  assert.deepEqual(colorsOf(ae, "standard transformer"), new Set([standard]));
  assert.deepEqual(colorsOf(scores, "standard transformer"), new Set([standard]));
  // "spikformer" is the basic spiking transformer's preset name: its colour
  assert.deepEqual(
    colorsOf(rates, "spikformer"),
    new Set([MODEL_COLORS["basic spiking transformer"].toUpperCase()]),
  );
  // an unknown model: its fallback colour
  assert.deepEqual(
    colorsOf(ae, "my new model"),
    new Set([modelColor("my new model").toUpperCase()]),
  );
  // baselines in greys, distinct from each other and from every model
  const smoothing = colorsOf(scores, "smoothing + Poisson GLM");
  const ridge = colorsOf(scores, "raw-count ridge");
  assert.deepEqual(smoothing, new Set([MODEL_COLORS["smoothing + GLM"].toUpperCase()]));
  assert.deepEqual(ridge, new Set([MODEL_COLORS["ridge"].toUpperCase()]));
  // mode is not a colour: the hybrid's two modes differ in shape
  const shapes = [...ae.matchAll(/<path\s[^>]*aria-roledescription="point"[^>]*>/g)]
    .filter((m) => m[0].includes("model: hybrid;"))
    .map((m) => m[0].match(/\sd="([^"]*)"/)?.[1]);
  assert.equal(new Set(shapes).size, 2, "the hybrid's modes are drawn with two shapes");
});

Deno.test("figure scripts: a run with a warm cache prints no Download lines and needs no network", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/figure.ts`;
    await Deno.writeTextFile(
      script,
      `import { compareFigure } from ${JSON.stringify(`${ROOT}scripts/_figures.ts`)};\n` +
        `const S = (mean: number) => ({ mean, sd: 0.01, values: [mean] });\n` +
        `await compareFigure({ rows: [{ model: "hybrid", mode: "spiking", coBps: S(0.5), ` +
        `energyUj: S(3) }] }, ${JSON.stringify(dir)});\n`,
    );
    // --cached-only: the run fails rather than fetch anything, so nothing can be downloaded
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--frozen", "--cached-only", "--config", `${ROOT}deno.json`, script],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, err);
    assert.ok(!/Download/.test(err), err);
    assert.equal(err.trim(), "", "nothing on stderr");
    assert.ok((await Deno.stat(`${dir}/accuracy_energy.png`)).size > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
