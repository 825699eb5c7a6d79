import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { cpgEncoding, cpgTable } from "../lib/snn/cpg.ts";

await useBackend("cpu");

function rows(t: Float32Array, dims: number, from: number, to: number): number[][] {
  const out: number[][] = [];
  for (let p = from; p < to; p++) out.push(Array.from(t.subarray(p * dims, (p + 1) * dims)));
  return out;
}

Deno.test("cpg: D.7 vector, N_pe = 4, p = 0..7", async () => {
  const expected = [
    [0, 1, 0, 1],
    [1, 0, 0, 1],
    [1, 0, 0, 1],
    [0, 0, 0, 1],
    [0, 0, 0, 1],
    [0, 0, 0, 1],
    [0, 1, 0, 1],
    [0, 0, 0, 1],
  ];
  assert.deepEqual(rows(cpgTable(8, 4), 4, 0, 8), expected);
  const pe = cpgEncoding(8, 4);
  assert.deepEqual(pe.shape, [8, 4]);
  assert.equal(pe.dtype, "float32");
  assert.deepEqual(await pe.array(), expected);
  pe.dispose();
});

Deno.test("cpg: D.7 vector, N_pe = 10, p = 5, 6, 7", () => {
  assert.deepEqual(rows(cpgTable(8, 10), 10, 5, 8), [
    [0, 0, 0, 0, 0, 1, 0, 1, 0, 1],
    [0, 1, 1, 0, 0, 1, 0, 1, 0, 1],
    [0, 0, 1, 0, 0, 1, 0, 1, 0, 1],
  ]);
});

Deno.test("cpg: defaults are wMax 1e4 and threshold 0.8; the table is binary", () => {
  const a = cpgTable(200, 16);
  assert.deepEqual(a, cpgTable(200, 16, { wMax: 1e4, threshold: 0.8 }));
  assert.ok(a.every((v) => v === 0 || v === 1));
  // Each row starts with p·ω_0 = p, so column 0 is Θ(sin p − 0.8), in float64.
  for (let p = 0; p < 200; p++) assert.equal(a[p * 16], Math.sin(p) >= 0.8 ? 1 : 0, `p=${p}`);
});

Deno.test("cpg: Θ(0) = 1, an exact zero of sin/cos − a fires", () => {
  // p = 0: sin 0 − 0 = 0 → 1 (> would give 0); cos 0 − 1 = 0 → 1.
  assert.equal(cpgTable(1, 2, { threshold: 0 })[0], 1);
  assert.deepEqual(Array.from(cpgTable(1, 4, { threshold: 1 })), [0, 1, 0, 1]);
  // Just above the exact value it no longer fires.
  assert.deepEqual(Array.from(cpgTable(1, 4, { threshold: 1 + 1e-12 })), [0, 0, 0, 0]);
});

Deno.test("cpg: odd dims put a sine column last", () => {
  const odd = cpgTable(30, 5, { threshold: 0.3 });
  assert.equal(odd.length, 150);
  for (let p = 0; p < 30; p++) {
    for (let c = 0; c < 5; c++) {
      const i = Math.floor(c / 2);
      const w = Math.pow(1e4, (-2 * i) / 5);
      const v = c % 2 === 0 ? Math.sin(p * w) : Math.cos(p * w);
      assert.equal(odd[p * 5 + c], v - 0.3 >= 0 ? 1 : 0, `p=${p} c=${c}`);
    }
  }
  assert.deepEqual(cpgEncoding(3, 1).shape, [3, 1]);
});

Deno.test("cpg: rows depend on the bin only (a prefix of a longer table)", () => {
  const long = cpgTable(100, 8);
  assert.deepEqual(cpgTable(40, 8), long.subarray(0, 40 * 8));
});

Deno.test("cpg: option and argument validation", () => {
  assert.throws(() => cpgTable(0, 4), /length must be a positive integer, found 0/);
  assert.throws(() => cpgTable(2.5, 4), /length must be a positive integer, found 2.5/);
  assert.throws(() => cpgTable(4, 0), /dims must be a positive integer, found 0/);
  assert.throws(() => cpgTable(4, NaN), /dims must be a positive integer, found NaN/);
  assert.throws(() => cpgTable(4, 4, { wMax: 0 }), /"wMax" must be a finite number > 0, found 0/);
  assert.throws(
    () => cpgTable(4, 4, { wMax: Infinity }),
    /"wMax" must be a finite number > 0, found Infinity/,
  );
  assert.throws(
    () => cpgTable(4, 4, { threshold: NaN }),
    /"threshold" must be a finite number, found NaN/,
  );
  assert.throws(
    () => cpgTable(4, 4, { scale: 3 } as unknown as { wMax: number }),
    /unknown CPG option "scale": expected one of wMax, threshold/,
  );
  assert.throws(
    () => cpgEncoding(4, 4, null as unknown as { wMax: number }),
    /CPG options must be an object, found null/,
  );
});

Deno.test("cpg: no tensor leaks", () => {
  const before = tf.memory().numTensors;
  cpgEncoding(10, 6).dispose();
  assert.equal(tf.memory().numTensors, before);
});
