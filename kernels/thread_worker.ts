/**
 * A kernel thread of `kernels/threads.ts`: instantiates the shared-memory builds of the kernels
 * (exact, and fast where the engine has relaxed SIMD) on the pool's `WebAssembly.Memory` — TF.js's
 * wasm memory, or the kernels' own — with its own stack, then runs the jobs the main thread posts
 * in its control block until told to stop. It blocks in `Atomics.wait` between jobs, so it never
 * returns to its event loop; the pool `unref`s it, so it does not keep the process alive.
 *
 * Control block (Int32Array over a SharedArrayBuffer): [0] job sequence (−1: stop), [1] the last
 * sequence done, [2] export index, [3] argument count, [4] result, [5] build (0 exact, 1 fast);
 * Float64Array view from byte 64: the arguments.
 *
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";

interface Init {
  builds: WebAssembly.Module[];
  memory: WebAssembly.Memory;
  stackTop: number;
  ctrl: SharedArrayBuffer;
  names: string[];
}

const init = workerData as Init;
// both builds share the one stack: a job runs on one of them at a time
const fns = init.builds.map((module) => {
  const inst = new WebAssembly.Instance(module, {
    env: { memory: init.memory },
  });
  const ex = inst.exports as Record<string, unknown>;
  (ex.__stack_pointer as WebAssembly.Global).value = init.stackTop;
  return init.names.map((n) => ex[n] as ((...a: number[]) => number) | undefined);
});
const ctl = new Int32Array(init.ctrl, 0, 16);
const args = new Float64Array(init.ctrl, 64, 24);
parentPort!.postMessage("ready");
let seq = 0;
for (;;) {
  Atomics.wait(ctl, 0, seq);
  seq = Atomics.load(ctl, 0);
  if (seq < 0) break;
  const a: number[] = [];
  for (let i = 0; i < ctl[3]; i++) a.push(args[i]);
  let r = 0;
  try {
    r = fns[ctl[5]][ctl[2]]!(...a) ?? 0;
  } catch {
    r = -2147483648; // reported to the main thread as a failed job
  }
  ctl[4] = r;
  Atomics.store(ctl, 1, seq);
  Atomics.notify(ctl, 1);
}
