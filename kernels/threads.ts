/**
 * Kernel threads: the hest products on more than one core. TF.js's wasm memory is not shared, so
 * a threaded product copies its operands into a pool memory (a shared `WebAssembly.Memory`), runs
 * one job per thread on the shared-memory build of the kernels (`kernels/hest_kernels_mt.wasm`:
 * the exact build's source with atomics and a shared memory) — the calling thread takes the
 * first job, `node:worker_threads` workers the others — and copies the results back into new
 * TF.js tensors. Jobs split a product by rows (or by batch, or one job per gradient), and every
 * output element is computed by exactly the code of the single-threaded path, so the values are
 * the same bit for bit; only the time changes.
 *
 * Off by default (one thread): a sweep runs one single-threaded process per core, which a pool
 * would only slow down. `setKernelThreads(2)` (or `HEST_KERNEL_THREADS=2`) turns it on for the
 * process; products below {@linkcode THREADED_MIN_FLOPS} stay on the calling thread. The workers
 * are unref'd (the process exits without `setKernelThreads(1)`), and wait in `Atomics.wait`
 * between jobs, so they take no CPU while idle.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import type { KernelExports } from "./wasm.ts";
import { readKernelModule } from "./precision.ts";

/** Products with fewer floating-point operations stay on one thread (the copies would cost more). */
export const THREADED_MIN_FLOPS = 4_000_000;

/** The most threads the pool starts. */
export const MAX_KERNEL_THREADS = 16;

const STACK_BYTES = 1 << 16;
const PAGE = 65536;

interface PoolWorker {
  worker: Worker;
  ctl: Int32Array;
  args: Float64Array;
  seq: number;
}

interface Pool {
  memory: WebAssembly.Memory;
  ex: KernelExports;
  workers: PoolWorker[];
  /** Export name → its index in the workers' function table (the jobs name exports). */
  index: Map<string, number>;
  /** First byte above the stacks: where each call's buffers start. */
  base: number;
}

let pool: Pool | undefined;
let threads = 1;
const stats = { calls: 0, jobs: 0 };

/**
 * How many threaded products (calls) and jobs have run in this process.
 *
 * @example
 * ```ts
 * import { kernelThreadStats } from "@hest/hest";
 * kernelThreadStats().calls; // 0 until setKernelThreads(2) and a large product
 * ```
 */
export function kernelThreadStats(): { calls: number; jobs: number } {
  return { ...stats };
}

async function startPool(n: number): Promise<Pool> {
  const bytes = readKernelModule("hest_kernels_mt.wasm");
  const module = new WebAssembly.Module(bytes);
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 32768, shared: true });
  const inst = new WebAssembly.Instance(module, { env: { memory } });
  const ex = { ...(inst.exports as Record<string, unknown>), memory } as unknown as KernelExports;
  const names = WebAssembly.Module.exports(module).filter((e) => e.kind === "function").map((e) =>
    e.name
  );
  const heap = Math.ceil((ex.__heap_base.value as number) / 16) * 16;
  // one stack per thread above the module's data: thread t's stack top is heap + (t + 1)·64 KiB
  ex.__stack_pointer.value = heap + STACK_BYTES;
  const workers: PoolWorker[] = [];
  const ready: Promise<unknown>[] = [];
  for (let t = 1; t < n; t++) {
    const ctrl = new SharedArrayBuffer(64 + 24 * 8);
    const worker = new Worker(new URL("./thread_worker.ts", import.meta.url), {
      workerData: { bytes, memory, ctrl, names, stackTop: heap + (t + 1) * STACK_BYTES },
    });
    ready.push(
      new Promise((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
      }),
    );
    workers.push({
      worker,
      ctl: new Int32Array(ctrl, 0, 16),
      args: new Float64Array(ctrl, 64, 24),
      seq: 0,
    });
  }
  await Promise.all(ready);
  for (const w of workers) w.worker.unref();
  const index = new Map(names.map((name, i) => [name, i]));
  return { memory, ex, workers, index, base: heap + (n + 1) * STACK_BYTES };
}

function stopPool(): void {
  if (!pool) return;
  for (const w of pool.workers) {
    Atomics.store(w.ctl, 0, -1);
    Atomics.notify(w.ctl, 0);
    w.worker.terminate();
  }
  pool = undefined;
}

/**
 * Run the kernel products on `n` threads (1: off, the default); returns the number in use. The
 * pool starts (or stops) here, so this is async; `HEST_KERNEL_THREADS=N` in the environment does
 * the same when this module loads. Values do not change with `n`.
 *
 * @example
 * ```ts
 * import { setKernelThreads } from "@hest/hest";
 * await setKernelThreads(2);
 * await setKernelThreads(1);
 * ```
 */
export async function setKernelThreads(n: number): Promise<number> {
  if (!Number.isInteger(n) || n < 1 || n > MAX_KERNEL_THREADS) {
    throw new RangeError(
      `setKernelThreads expects an integer from 1 to ${MAX_KERNEL_THREADS}, found ${n}`,
    );
  }
  if (n === threads && (n === 1 || pool)) return n;
  stopPool();
  threads = 1;
  if (n > 1) {
    pool = await startPool(n);
    threads = n;
  }
  return threads;
}

/**
 * Threads the kernel products run on (see {@linkcode setKernelThreads}).
 *
 * @example
 * ```ts
 * import { kernelThreads } from "@hest/hest";
 * kernelThreads(); // 1
 * ```
 */
export function kernelThreads(): number {
  return threads;
}

/** `HEST_KERNEL_THREADS=N` in the environment (when env access is granted), else 1. */
function envThreads(): number {
  let v: string | undefined;
  try {
    const q = Deno.permissions.querySync({ name: "env", variable: "HEST_KERNEL_THREADS" });
    v = q.state === "granted" ? Deno.env.get("HEST_KERNEL_THREADS") : undefined;
  } catch {
    return 1;
  }
  if (v === undefined || v === "") return 1;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_KERNEL_THREADS) {
    throw new RangeError(
      `HEST_KERNEL_THREADS must be an integer from 1 to ${MAX_KERNEL_THREADS}, found "${v}"`,
    );
  }
  return n;
}

const fromEnv = envThreads();
if (fromEnv > 1) await setKernelThreads(fromEnv);

/** One job: a kernel export and its arguments (pointers into the pool memory). */
export interface KernelJob {
  /** Export name, e.g. `"linear_forward"`. */
  name: string;
  /** Its arguments. */
  args: number[];
}

/** The buffers and jobs of one threaded product (see {@linkcode withThreads}). */
export interface ThreadedCall {
  /** Threads of the pool (jobs beyond it run in rounds). */
  threads: number;
  /** The calling thread's instance (for `*_scratch_floats`). */
  ex: KernelExports;
  /** Copy `data` into the pool memory; its pointer. */
  input(data: Float32Array): number;
  /** A buffer of `floats` (contents undefined); its pointer. */
  alloc(floats: number): number;
  /** A view of `floats` at `ptr` (take it after the last `input` / `alloc`). */
  view(ptr: number, floats: number): Float32Array;
  /** Run the jobs, job i on thread i mod threads; their return values. */
  run(jobs: KernelJob[]): number[];
}

/**
 * Run `f` with a {@linkcode ThreadedCall} on the pool, or return undefined when the pool is off
 * (one thread). The pool's buffers are reused by the next call.
 *
 * @example
 * ```ts
 * import { withThreads } from "@hest/hest";
 * withThreads((tc) => tc.threads); // undefined with one thread
 * ```
 */
export function withThreads<T>(f: (tc: ThreadedCall) => T): T | undefined {
  const p = pool;
  if (!p || threads < 2) return undefined;
  let next = p.base;
  const alloc = (floats: number) => {
    const ptr = next;
    next += Math.ceil(Math.max(floats, 1) * 4 / 16) * 16 + 16;
    const have = p.memory.buffer.byteLength;
    if (next > have) p.memory.grow(Math.ceil((next - have) / PAGE));
    return ptr;
  };
  return f({
    threads,
    ex: p.ex,
    input(data) {
      const ptr = alloc(data.length);
      new Float32Array(p.memory.buffer, ptr, data.length).set(data);
      return ptr;
    },
    alloc,
    view: (ptr, floats) => new Float32Array(p.memory.buffer, ptr, floats),
    run(jobs) {
      stats.calls++;
      stats.jobs += jobs.length;
      const results = new Array<number>(jobs.length).fill(0);
      for (let r = 0; r < jobs.length; r += threads) {
        const round = jobs.slice(r, r + threads);
        round.slice(1).forEach((job, i) => {
          const w = p.workers[i];
          const fn = p.index.get(job.name);
          if (fn === undefined) throw new Error(`no kernel export "${job.name}"`);
          w.ctl[2] = fn;
          w.ctl[3] = job.args.length;
          job.args.forEach((a, k) => (w.args[k] = a));
          w.seq++;
          Atomics.store(w.ctl, 0, w.seq);
          Atomics.notify(w.ctl, 0);
        });
        const first = round[0];
        const mine = (p.ex as unknown as Record<string, (...a: number[]) => number>)[first.name];
        results[r] = mine(...first.args) ?? 0;
        round.slice(1).forEach((job, i) => {
          const w = p.workers[i];
          while (Atomics.load(w.ctl, 1) !== w.seq) Atomics.wait(w.ctl, 1, w.seq - 1);
          if (w.ctl[4] === -2147483648) {
            throw new Error(`kernel thread ${i + 1} failed in ${job.name}`);
          }
          results[r + 1 + i] = w.ctl[4];
        });
      }
      return results;
    },
  });
}

/**
 * `[start, count]` of `n` parts of `total` items, as equal as can be, in multiples of `unit`
 * (except the last); parts that would be empty are left out.
 *
 * @example
 * ```ts
 * import { splitRange } from "@hest/hest";
 * splitRange(10, 2, 4); // [[0, 8], [8, 2]]
 * ```
 */
export function splitRange(total: number, n: number, unit = 1): [number, number][] {
  const units = Math.ceil(total / unit);
  const out: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    const end = Math.min(total, Math.round(units * (i + 1) / n) * unit);
    if (end > start) out.push([start, end - start]);
    start = Math.max(start, end);
  }
  return out;
}
