// Smoothing + GLM (the protocol's grid) and raw-count ridge on a file loaded with the given options.
// usage: deno run -A results/real_user/baseline.ts FILE [LOAD_OPTIONS_JSON]
import { loadDataset, smoothingBaseline, rawCountRidge, useBackend } from "../../mod.ts";
await useBackend("wasm");
const ds = await loadDataset(Deno.args[0], Deno.args[1] ? JSON.parse(Deno.args[1]) : {});
console.log("split", ds.split.train.length, ds.split.val.length, ds.split.test.length);
const sm = await smoothingBaseline(ds, { kernSdMs: [25, 50, 100], alphas: [1e-2, 1e-1], onWarning: () => {} });
const chosen = sm.selection.find((s) => s.kernSdMs === sm.kernSdMs && s.alpha === sm.alpha);
console.log(JSON.stringify({ coBps: sm.coBps, valCoBps: chosen?.valCoBps, velR2: sm.velR2, kern: sm.kernSdMs, alpha: sm.alpha }));
const r = await rawCountRidge(ds);
console.log(JSON.stringify({ ridgeVelR2: r.velR2 }));
