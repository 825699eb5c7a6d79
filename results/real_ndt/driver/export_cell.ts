// Export one real-data protocol cell (hest's loader, the protocol's options) for NDT's driver.
// usage: deno run -A export_cell.ts CONFIG.json OUTDIR   (CONFIG: a hest run config with data.kind "file")
const root = Deno.env.get("HEST_ROOT") ?? Deno.cwd();
const { loadDataset, useBackend } = await import(`file://${root}/mod.ts`);
await useBackend("cpu");
const cfg = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const out = Deno.args[1];
await Deno.mkdir(out, { recursive: true });
const opts = { ...cfg.data.options };
delete opts.trainStrideMs;
const ds = await loadDataset(`${root}/${cfg.data.path}`, opts);
const meta: Record<string, unknown> = {
  name: ds.name, binSizeMs: ds.binSizeMs, options: opts,
  heldIn: Array.from(ds.heldIn), heldOut: Array.from(ds.heldOut),
  split: { train: Array.from(ds.split.train), val: Array.from(ds.split.val), test: Array.from(ds.split.test) },
  arrays: {} as Record<string, number[]>,
};
for (const [k, a] of Object.entries({ counts: ds.counts, forwardCounts: ds.forwardCounts, behavior: ds.behavior })) {
  if (!a) continue;
  const d = Float32Array.from(a.data as ArrayLike<number>);
  await Deno.writeFile(`${out}/${k}.f32`, new Uint8Array(d.buffer));
  (meta.arrays as Record<string, number[]>)[k] = Array.from(a.shape);
}
await Deno.writeTextFile(`${out}/meta.json`, JSON.stringify(meta));
console.log(JSON.stringify({ shapes: meta.arrays, nHeldOut: ds.heldOut.length, train: ds.split.train.length, val: ds.split.val.length, test: ds.split.test.length }));
