/**
 * Helper process for tests/train_test.ts: two training steps of a tiny model on cpu, then on
 * webgpu, from the same keys. Prints `{"losses": [cpu1, cpu2, gpu1, gpu2]}` or
 * `{"unavailable": reason}` and exits at once. The test only starts it where a WebGPU adapter
 * exists, so there `unavailable` is a failure.
 *
 * @module
 */
import { useBackend } from "../lib/core/backend.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { disposeBatch, maskedBatch } from "../lib/train/masking.ts";
import { adamw } from "../lib/train/optim.ts";
import { transformerFor } from "../lib/experiments/presets.ts";
import { key } from "../lib/core/random.ts";
import { trainStep } from "../lib/train/train.ts";

const ds = lorenzDataset({
  conditions: 2,
  trialsPerCondition: 4,
  bins: 8,
  forwardBins: 2,
  seed: 1,
});
const model = transformerFor(ds, {
  dModel: 8,
  nLayers: 1,
  nHeads: 2,
  dFF: 16,
  dropout: 0,
  embedDropout: 0,
  rateDropout: 0,
});
const losses: number[] = [];
for (const backend of ["cpu", "webgpu"]) {
  try {
    await useBackend(backend);
  } catch (err) {
    if (backend !== "webgpu") throw err;
    console.log(JSON.stringify({ unavailable: (err as Error).message }));
    Deno.exit(0);
  }
  const optimizer = adamw({ lr: 1e-2 });
  const params = model.init(key(0));
  const batch = maskedBatch(ds, ds.split.train, { key: key(1) });
  const r1 = await trainStep(model, { params, state: optimizer.init(params) }, batch, {
    optimizer,
    key: key(2),
  });
  const r2 = await trainStep(model, r1, batch, { optimizer, key: key(2) });
  losses.push(r1.loss, r2.loss);
  disposeBatch(batch);
}
console.log(JSON.stringify({ losses }));
Deno.exit(0);
