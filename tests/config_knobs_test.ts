// Every model config key must act: changing it changes the forward output (or, for keys that
// only act in training, the training-mode output or the gradient), or it is refused. A knob that
// silently does nothing fails here, and a new key without a row here fails the completeness check.
import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { key } from "../lib/core/random.ts";
import { flatten, type Params } from "../lib/core/tree.ts";
import {
  HYBRID_CONFIG_KEYS,
  type HybridConfig,
  TRANSFORMER_CONFIG_KEYS,
} from "../lib/model/config.ts";
import { hybridTransformer } from "../lib/model/hybrid.ts";
import type { Mode } from "../lib/nn/types.ts";

await useBackend("cpu");

const base: HybridConfig = {
  nInputs: 4,
  nOutputs: 5,
  bins: 10,
  forwardBins: 2,
  dModel: 16,
  nHeads: 2,
  dFF: 24,
  nLayers: 2,
  dropout: 0.2,
  embedDropout: 0.2,
  rateDropout: 0.2,
  attnDropout: 0.2,
};

/** How a knob is observed. */
type Check =
  | { kind: "output"; mode: Mode; training?: boolean }
  | { kind: "grad"; mode: Mode }
  | { kind: "params" }
  | { kind: "shape" }
  | { kind: "refused"; mode: Mode };

interface Knob {
  /** Dotted config path, e.g. `"lif.tau"`. */
  path: string;
  /** Config the change is made on (defaults to `base`). */
  on?: Partial<HybridConfig>;
  /** The changed fields. */
  change: Partial<HybridConfig>;
  check: Check;
}

const knobs: Knob[] = [
  { path: "nInputs", change: { nInputs: 3 }, check: { kind: "shape" } },
  { path: "nOutputs", change: { nOutputs: 6 }, check: { kind: "shape" } },
  { path: "bins", change: { bins: 9 }, check: { kind: "shape" } },
  { path: "forwardBins", change: { forwardBins: 3 }, check: { kind: "shape" } },
  { path: "dModel", change: { dModel: 8 }, check: { kind: "output", mode: "standard" } },
  { path: "nLayers", change: { nLayers: 1 }, check: { kind: "output", mode: "standard" } },
  { path: "nHeads", change: { nHeads: 4 }, check: { kind: "output", mode: "standard" } },
  { path: "dFF", change: { dFF: 32 }, check: { kind: "output", mode: "standard" } },
  {
    path: "dropout",
    change: { dropout: 0.5 },
    check: { kind: "output", mode: "standard", training: true },
  },
  {
    path: "embedDropout",
    change: { embedDropout: 0.5 },
    check: { kind: "output", mode: "standard", training: true },
  },
  {
    path: "attnDropout",
    change: { attnDropout: 0.5 },
    check: { kind: "output", mode: "standard", training: true },
  },
  {
    path: "rateDropout",
    change: { rateDropout: 0.5 },
    check: { kind: "output", mode: "standard", training: true },
  },
  {
    path: "position",
    change: { position: "sinusoidal" },
    check: { kind: "output", mode: "standard" },
  },
  {
    path: "context",
    change: { context: { backward: 1, forward: 0 } },
    check: { kind: "output", mode: "standard" },
  },
  {
    path: "context.forecast",
    on: { context: { backward: 1, forward: 0 } },
    change: { context: { backward: 1, forward: 0, forecast: "all" } },
    check: { kind: "output", mode: "standard" },
  },
  {
    path: "inputTransform",
    change: { inputTransform: "none" },
    check: { kind: "output", mode: "standard" },
  },
  {
    path: "outputBias",
    change: { outputBias: [1, 2, 3, 4, 5] },
    check: { kind: "output", mode: "standard" },
  },
  { path: "timesteps", change: { timesteps: 2 }, check: { kind: "output", mode: "spiking" } },
  { path: "attention", change: { attention: "conv" }, check: { kind: "output", mode: "spiking" } },
  {
    path: "convKernel",
    on: { attention: "conv" },
    change: { attention: "conv", convKernel: 5 },
    check: { kind: "output", mode: "standard" },
  },
  { path: "localWindow", change: { localWindow: 3 }, check: { kind: "output", mode: "standard" } },
  { path: "causal", change: { causal: true }, check: { kind: "output", mode: "standard" } },
  { path: "cpg", change: { cpg: { dims: 4 } }, check: { kind: "output", mode: "spiking" } },
  {
    path: "cpg.dims",
    on: { cpg: { dims: 4 } },
    change: { cpg: { dims: 6 } },
    check: { kind: "output", mode: "standard" },
  },
  {
    path: "cpg.fusion",
    on: { cpg: { dims: 4 } },
    change: { cpg: { fusion: "add" } },
    check: { kind: "output", mode: "standard" },
  },
  {
    path: "cpg.wMax",
    on: { cpg: { dims: 4 } },
    change: { cpg: { dims: 4, wMax: 10 } },
    check: { kind: "output", mode: "standard" },
  },
  {
    path: "cpg.threshold",
    on: { cpg: { dims: 4 } },
    change: { cpg: { dims: 4, threshold: 0.2 } },
    check: { kind: "output", mode: "standard" },
  },
  { path: "tim", change: { tim: {} }, check: { kind: "output", mode: "spiking" } },
  {
    path: "tim.alpha",
    on: { tim: { outThreshold: 0.3 } },
    change: { tim: { outThreshold: 0.3, alpha: 0.1 } },
    check: { kind: "output", mode: "spiking" },
  },
  {
    path: "tim.kernel",
    on: { tim: { outThreshold: 0.05, inThreshold: 0.05 } },
    change: { tim: { outThreshold: 0.05, inThreshold: 0.05, kernel: 3 } },
    check: { kind: "output", mode: "spiking" },
  },
  {
    path: "tim.inThreshold",
    on: { tim: { outThreshold: 0.05 } },
    change: { tim: { outThreshold: 0.05, inThreshold: 0.05 } },
    check: { kind: "output", mode: "spiking" },
  },
  {
    path: "tim.outThreshold",
    on: { tim: {} },
    change: { tim: { outThreshold: 0.05 } },
    check: { kind: "output", mode: "spiking" },
  },
  {
    path: "residual",
    change: { residual: "membrane" },
    check: { kind: "output", mode: "spiking" },
  },
  { path: "rsm", change: { rsm: { ratio: 0.3 } }, check: { kind: "output", mode: "spiking" } },
  {
    path: "rsm.ratio",
    on: { rsm: { ratio: 0.3 } },
    change: { rsm: { ratio: [0.3, 0.6] } },
    check: { kind: "output", mode: "spiking" },
  },
  {
    path: "rsm.mode",
    on: { rsm: { ratio: 0.3 } },
    change: { rsm: { ratio: 0.3, mode: "spatial" } },
    check: { kind: "output", mode: "spiking" },
  },
  { path: "lif", change: { lif: { tau: 4 } }, check: { kind: "output", mode: "spiking" } },
  { path: "lif.tau", change: { lif: { tau: 1.5 } }, check: { kind: "output", mode: "spiking" } },
  {
    path: "lif.vThreshold",
    change: { lif: { vThreshold: 0.5 } },
    check: { kind: "output", mode: "spiking" },
  },
  {
    path: "lif.vReset",
    change: { lif: { vReset: null } },
    check: { kind: "output", mode: "spiking" },
  },
  {
    path: "lif.surrogate",
    change: { lif: { surrogate: "atan" } },
    check: { kind: "grad", mode: "spiking" },
  },
  {
    path: "lif.detachReset",
    change: { lif: { detachReset: false } },
    check: { kind: "grad", mode: "spiking" },
  },
  {
    path: "attnThreshold",
    change: { attnThreshold: 0.2 },
    check: { kind: "output", mode: "spiking" },
  },
  { path: "ssaScale", change: { ssaScale: 1 }, check: { kind: "grad", mode: "spiking" } },
  { path: "encoding", change: { encoding: "poisson" }, check: { kind: "output", mode: "spiking" } },
  {
    path: "maskToken",
    change: { maskToken: false },
    check: { kind: "output", mode: "standard", training: true },
  },
  { path: "modes", change: { modes: ["standard"] }, check: { kind: "refused", mode: "spiking" } },
  { path: "likelihood", change: { likelihood: "negbinomial" }, check: { kind: "params" } },
  { path: "norm", change: { norm: "causal" }, check: { kind: "output", mode: "spiking" } },
  {
    path: "branchGain",
    change: { branchGain: 0.1 },
    check: { kind: "output", mode: "spiking" },
  },
];

const input = tf.floor(tf.mul(tf.randomUniform([3, 10, 4], 0, 1, "float32", 1), 3));
const inputMask = tf.cast(
  tf.greater(tf.randomUniform([3, 10, 4], 0, 1, "float32", 2), 0.5),
  "float32",
);

function merged(a: Partial<HybridConfig>, b: Partial<HybridConfig>): HybridConfig {
  return { ...base, ...a, ...b } as HybridConfig;
}

async function forward(cfg: HybridConfig, mode: Mode, training: boolean): Promise<Float32Array> {
  const m = hybridTransformer(cfg);
  const p = m.init(key(0));
  const x = { input: tf.slice(input, [0, 0, 0], [3, cfg.bins, cfg.nInputs]), inputMask };
  const y = m.apply(p, cfg.bins === 10 && cfg.nInputs === 4 ? x : { input: x.input }, {
    training,
    mode,
    key: key(7),
  });
  const out = await y.data() as Float32Array;
  tf.dispose([y, x.input]);
  return out;
}

async function gradient(cfg: HybridConfig, mode: Mode): Promise<Float32Array> {
  const m = hybridTransformer(cfg);
  const p = m.init(key(0));
  const leaf = flatten(p).find((l) => l.path === "blocks.0.ff1.w")!;
  const g = tf.grad((w: tf.Tensor) => {
    const q: Params = {
      ...p,
      blocks: {
        ...p.blocks,
        "0": { ...p.blocks["0"], ff1: { ...p.blocks["0"].ff1, w: w as tf.Tensor2D } },
      },
    };
    return tf.sum(m.apply(q, { input }, { training: false, mode, key: key(7) }));
  })(leaf.tensor);
  const out = await g.data() as Float32Array;
  g.dispose();
  return out;
}

function differs(a: Float32Array, b: Float32Array): boolean {
  return a.length !== b.length || a.some((v, i) => v !== b[i]);
}

Deno.test("config knobs: every model config key (and nested key) has a row here", () => {
  const top = knobs.map((k) => k.path).filter((p) => !p.includes("."));
  assert.deepEqual(
    [...top].sort(),
    [...TRANSFORMER_CONFIG_KEYS, ...HYBRID_CONFIG_KEYS].sort(),
  );
  const nested = new Set(knobs.map((k) => k.path).filter((p) => p.includes(".")));
  for (
    const p of [
      "cpg.dims",
      "cpg.fusion",
      "cpg.wMax",
      "cpg.threshold",
      "tim.alpha",
      "tim.kernel",
      "tim.inThreshold",
      "tim.outThreshold",
      "rsm.ratio",
      "rsm.mode",
      "lif.tau",
      "lif.vThreshold",
      "lif.vReset",
      "lif.surrogate",
      "lif.detachReset",
    ]
  ) assert.ok(nested.has(p), `no row for ${p}`);
});

for (const knob of knobs) {
  Deno.test(`config knobs: "${knob.path}" changes what it claims to`, async () => {
    const before = merged(knob.on ?? {}, {});
    const after = merged(before, knob.change);
    const c = knob.check;
    if (c.kind === "shape") {
      const m0 = hybridTransformer(before), m1 = hybridTransformer(after);
      assert.notDeepEqual(
        [m0.config.nInputs, m0.config.nOutputs, m0.config.bins, m0.config.forwardBins],
        [m1.config.nInputs, m1.config.nOutputs, m1.config.bins, m1.config.forwardBins],
      );
      const x = tf.zeros([1, after.bins, after.nInputs]);
      const y = m1.apply(m1.init(key(0)), { input: x }, { training: false, key: key(1) });
      assert.deepEqual(y.shape, [1, after.bins + (after.forwardBins ?? 0), after.nOutputs]);
      tf.dispose([x, y]);
    } else if (c.kind === "output") {
      const a = await forward(before, c.mode, c.training ?? false);
      const b = await forward(after, c.mode, c.training ?? false);
      assert.ok(differs(a, b), `${knob.path}: ${c.mode} output unchanged`);
    } else if (c.kind === "grad") {
      const a = await gradient(before, c.mode);
      const b = await gradient(after, c.mode);
      assert.ok(differs(a, b), `${knob.path}: ${c.mode} gradient unchanged`);
    } else if (c.kind === "params") {
      const a = flatten(hybridTransformer(before).init(key(0))).map((l) => l.path);
      const b = flatten(hybridTransformer(after).init(key(0))).map((l) => l.path);
      assert.notDeepEqual(a, b);
    } else {
      const m = hybridTransformer(after);
      assert.throws(
        () => m.apply(m.init(key(0)), { input }, { training: false, mode: c.mode, key: key(1) }),
        /runs in modes/,
      );
    }
  });
}

Deno.test("config knobs: each spiking norm gives its own spiking output; the standard mode ignores it", async () => {
  const norms = ["trial", "sample", "causal"] as const;
  const spiking = await Promise.all(
    norms.map((n) => forward(merged({}, { norm: n }), "spiking", false)),
  );
  for (let i = 0; i < norms.length; i++) {
    for (let j = i + 1; j < norms.length; j++) {
      assert.ok(
        differs(spiking[i], spiking[j]),
        `norm ${norms[i]} = norm ${norms[j]} in spiking mode`,
      );
    }
  }
  const standard = await Promise.all(
    norms.map((n) => forward(merged({}, { norm: n }), "standard", false)),
  );
  assert.ok(!differs(standard[0], standard[1]) && !differs(standard[0], standard[2]));
  assert.throws(
    () => hybridTransformer(merged({}, { norm: "token" as "trial" })),
    /norm.*"trial", "causal" or "sample".*token/,
  );
});
