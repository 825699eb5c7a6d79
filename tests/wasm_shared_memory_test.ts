import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { sharedMemoryBinary, shareTfWasmMemory } from "../lib/core/wasm_shared_memory.ts";

const HEADER = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];

Deno.test("sharedMemoryBinary: sets the shared flag of a defined memory with a maximum, and the module instantiates on a shared memory", () => {
  // (memory 1 2): section 5, size 4, one memory, flags 1, min 1, max 2; exported as "m"
  const bytes = new Uint8Array([...HEADER, 5, 4, 1, 1, 1, 2, 7, 5, 1, 1, 0x6d, 2, 0]);
  const out = sharedMemoryBinary(bytes)!;
  assert.ok(out, "not patched");
  assert.equal(out[11], 3);
  assert.equal(bytes[11], 1, "the input was modified");
  assert.deepEqual([...out.slice(0, 11)], [...bytes.slice(0, 11)]);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(out as BufferSource));
  const mem = inst.exports.m as WebAssembly.Memory;
  assert.ok(mem.buffer instanceof SharedArrayBuffer);
  const plain = new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource));
  assert.ok(!((plain.exports.m as WebAssembly.Memory).buffer instanceof SharedArrayBuffer));
});

Deno.test("sharedMemoryBinary: leaves modules of another form alone", () => {
  // no maximum (flags 0): a shared memory needs one
  assert.equal(sharedMemoryBinary(new Uint8Array([...HEADER, 5, 3, 1, 0, 1])), undefined);
  // already shared
  assert.equal(sharedMemoryBinary(new Uint8Array([...HEADER, 5, 4, 1, 3, 1, 2])), undefined);
  // an imported memory ("e" "m", kind 2, flags 1, min 1, max 2)
  const imported = [...HEADER, 2, 9, 1, 1, 0x65, 1, 0x6d, 2, 1, 1, 2];
  assert.equal(sharedMemoryBinary(new Uint8Array(imported)), undefined);
  // no memory at all, not wasm, truncated
  assert.equal(sharedMemoryBinary(new Uint8Array(HEADER)), undefined);
  assert.equal(sharedMemoryBinary(new TextEncoder().encode("not a wasm module")), undefined);
  assert.equal(sharedMemoryBinary(new Uint8Array([...HEADER, 5, 0x80])), undefined);
});

Deno.test("shareTfWasmMemory: TF.js's wasm backend runs on the shared memory, and computes as before", async () => {
  // this file's isolate has not started the backend yet
  assert.equal(shareTfWasmMemory(), true);
  await useBackend("wasm");
  const be = tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } };
  assert.ok(be.wasm.asm.memory.buffer instanceof SharedArrayBuffer);
  // growth keeps TF.js's views in step: a tensor larger than the initial 16 MiB heap
  const big = tf.fill([5_000_000], 2);
  assert.equal((await tf.sum(big).data())[0], 10_000_000);
  big.dispose();
  const a = tf.tensor2d([[1, 2], [3, 4]]);
  assert.deepEqual(Array.from(await tf.matMul(a, a).data()), [7, 10, 15, 22]);
  assert.throws(() => tf.reshape(a, [3]), /Size\(4\) must match the product of shape 3/);
});

Deno.test("TF.js's memory is shared when HEST_KERNEL_THREADS asks for threads; otherwise setKernelThreads warns and the kernels run on one thread", async () => {
  const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
  const code = `
    const { tf, useBackend } = await import(${url("../lib/core/backend.ts")});
    const { kernelThreadStats, setKernelThreads } = await import(${url("../kernels/threads.ts")});
    const { linearKernel } = await import(${url("../kernels/linear.ts")});
    await useBackend("wasm");
    const shared = tf.backend().wasm.asm.memory.buffer instanceof SharedArrayBuffer;
    await setKernelThreads(2);
    const y = linearKernel(tf.ones([400, 200]), tf.ones([200, 100]), tf.zeros([100]));
    console.log(shared, kernelThreadStats().calls, (await y.data())[0]);`;
  const run = (env: Record<string, string>) =>
    new Deno.Command(Deno.execPath(), {
      args: ["eval", "--frozen", code],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
      cwd: new URL("..", import.meta.url).pathname,
    }).output();
  const home = { HOME: Deno.env.get("HOME") ?? "/root", PATH: Deno.env.get("PATH") ?? "" };
  const off = await run(home);
  const err = new TextDecoder().decode(off.stderr);
  assert.ok(off.success, err);
  assert.equal(new TextDecoder().decode(off.stdout).trim(), "false 0 200");
  assert.match(err, /kernel threads need TF.js's wasm memory shared.*one thread/s);
  const on = await run({ ...home, HEST_KERNEL_THREADS: "2" });
  assert.ok(on.success, new TextDecoder().decode(on.stderr));
  assert.equal(new TextDecoder().decode(on.stdout).trim(), "true 1 200");
});
