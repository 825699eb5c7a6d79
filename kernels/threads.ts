/**
 * Kernel threads: the hest products on more than one core, in place. With TF.js's wasm memory
 * shared (lib/core/wasm_shared_memory.ts: `HEST_KERNEL_THREADS=N` at start-up, or
 * `shareTfWasmMemory()` before the backend starts) the threads — the calling thread
 * takes the first job, `node:worker_threads` workers the others — run the shared-memory build of
 * the kernels (`kernels/hest_kernels_mt.wasm`, or `hest_kernels_fast_mt.wasm` in the fast build)
 * on the tensors where TF.js keeps them and write the outputs straight into new tensors: no
 * copies. Off the wasm backend they run in the kernels' own (shared) memory, where
 * {@linkcode kernelCall} copies tensors anyway. Jobs split a product by rows (or by batch), and
 * every output element is computed by exactly the code of the single-threaded path, so the values
 * are the same bit for bit; only the time changes.
 *
 * Off by default (one thread): a sweep runs one single-threaded process per core, which a pool
 * would only slow down. `setKernelThreads(2)` (or `HEST_KERNEL_THREADS=2`) turns it on for the
 * process; products below {@linkcode THREADED_MIN_FLOPS} stay on the calling thread. The pool is
 * bound to one memory: when the kernels' memory changes (another backend), calls run on one
 * thread while a new pool starts in the background. The workers are unref'd (the process exits
 * without `setKernelThreads(1)`), and wait in `Atomics.wait` between jobs, so they take no CPU
 * while idle.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import { type KernelCall, type KernelThreadHost, kernelThreadHost } from "./wasm.ts";
import { fastKernelsSupported, kernelModule, kernelPrecision } from "./precision.ts";

/** Products with fewer floating-point operations stay on one thread (the split costs more). */
export const THREADED_MIN_FLOPS = 4_000_000;

/** Elementwise and row-wise kernels on fewer elements stay on the calling thread. */
export const THREADED_MIN_ELEMENTS = 65_536;

/** The most threads the pool starts. */
export const MAX_KERNEL_THREADS = 16;

interface PoolWorker {
  worker: Worker;
  ctl: Int32Array;
  args: Float64Array;
  seq: number;
}

interface Pool {
  host: KernelThreadHost;
  workers: PoolWorker[];
  /** Export name → its index in the workers' function table (the jobs name exports). */
  index: Map<string, number>;
}

let pool: Pool | undefined;
let starting: Promise<Pool | undefined> | undefined;
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

async function startPool(n: number, host: KernelThreadHost): Promise<Pool> {
  // the compiled modules (not their bytes): workers share the code V8 has already optimised
  const exact = kernelModule({ precision: "exact", shared: true });
  const fast = fastKernelsSupported()
    ? kernelModule({ precision: "fast", shared: true })
    : undefined;
  const names = WebAssembly.Module.exports(exact)
    .filter((e) => e.kind === "function").map((e) => e.name);
  const stackTops = host.stacks(n - 1);
  const workers: PoolWorker[] = [];
  const ready: Promise<unknown>[] = [];
  for (let t = 1; t < n; t++) {
    const ctrl = new SharedArrayBuffer(64 + 24 * 8);
    const worker = new Worker(new URL("./thread_worker.ts", import.meta.url), {
      workerData: {
        builds: fast ? [exact, fast] : [exact],
        memory: host.memory,
        ctrl,
        names,
        stackTop: stackTops[t - 1],
      },
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
  try {
    await Promise.all(ready);
  } catch (err) {
    for (const w of workers) w.worker.terminate();
    host.release();
    throw err;
  }
  for (const w of workers) w.worker.unref();
  return { host, workers, index: new Map(names.map((name, i) => [name, i])) };
}

function stopPool(): void {
  if (!pool) return;
  for (const w of pool.workers) {
    Atomics.store(w.ctl, 0, -1);
    Atomics.notify(w.ctl, 0);
    w.worker.terminate();
  }
  pool.host.release();
  pool = undefined;
}

let warned = false;

/** Say once that threads were asked for on a memory they cannot share. */
function warnUnshared(): void {
  if (warned) return;
  warned = true;
  console.warn(
    "hest: the kernel threads need TF.js's wasm memory shared, and it is not: start with " +
      "HEST_KERNEL_THREADS=N, or call shareTfWasmMemory() before the wasm backend starts; " +
      "the products run on one thread",
  );
}

/** Start a pool of `threads` on the current kernel memory (one start at a time). */
function bind(): Promise<Pool | undefined> {
  if (starting) return starting;
  const host = kernelThreadHost();
  if (!host && threads > 1) warnUnshared();
  if (!host || threads < 2) return Promise.resolve(undefined);
  const n = threads;
  starting = startPool(n, host).then((p) => {
    stopPool();
    pool = p;
    return p;
  }).finally(() => (starting = undefined));
  return starting;
}

/**
 * Run the kernel products on `n` threads (1: off, the default); returns `n`. The pool starts (or
 * stops) here on the active backend's kernel memory, so this is async. On the wasm backend that
 * memory must be shared (see the module notes; otherwise a warning, and one thread);
 * `HEST_KERNEL_THREADS=N` in the environment sets the number and shares it when hest loads, and
 * the pool then starts with the first large product. Values do not change with `n`.
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
  await starting?.catch(() => undefined);
  const host = n > 1 ? kernelThreadHost() : undefined;
  if (n === threads && (n === 1 || pool?.host.memory === host?.memory)) return n;
  stopPool();
  threads = n;
  if (n > 1) await bind();
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

// the pool itself starts with the first large product, once a backend is up
threads = envThreads();

/** One job: a kernel export and its arguments (pointers into the kernel call's memory). */
export interface KernelJob {
  /** Export name, e.g. `"linear_forward"`. */
  name: string;
  /** Its arguments. */
  args: number[];
}

/** The threads of one threaded product (see {@linkcode withThreads}). */
export interface ThreadedCall {
  /** Threads of the pool (jobs beyond it run in rounds). */
  threads: number;
  /** Run the jobs, job i on thread i mod threads, in rounds; their return values. */
  run(jobs: KernelJob[]): number[];
}

/**
 * Run `f` with a {@linkcode ThreadedCall} whose jobs read and write `call`'s memory (pointers
 * from `call.input`, `call.output`, `call.scratch`), or return undefined when the pool is off
 * (one thread) or not (yet) on that memory: the caller then runs the single-threaded path.
 *
 * @example
 * ```ts
 * import { withKernelCall, withThreads } from "@hest/hest";
 * withKernelCall((call) => withThreads(call, (tc) => tc.threads)); // undefined with one thread
 * ```
 */
export function withThreads<T>(call: KernelCall, f: (tc: ThreadedCall) => T): T | undefined {
  if (threads < 2) return undefined;
  const p = pool;
  if (!p || p.host.memory !== call.ex.memory) {
    // a pool for this memory starts in the background (where it can); this call runs on one thread
    if (!(call.ex.memory.buffer instanceof SharedArrayBuffer)) warnUnshared();
    else bind().catch((err) => console.warn(`hest: kernel threads failed to start: ${err}`));
    return undefined;
  }
  // setKernelPrecision keeps "exact" where the fast build cannot run, so "fast" means it can
  const build = kernelPrecision() === "fast" ? 1 : 0;
  const ex = call.ex as unknown as Record<string, (...a: number[]) => number>;
  return f({
    threads,
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
          w.ctl[5] = build;
          job.args.forEach((a, k) => (w.args[k] = a));
          w.seq++;
          Atomics.store(w.ctl, 0, w.seq);
          Atomics.notify(w.ctl, 0);
        });
        results[r] = ex[round[0].name](...round[0].args) ?? 0;
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

/**
 * Run an elementwise or row-wise kernel `name` on the threads, in place: the `n` items (elements
 * or rows) split into one part per thread, at multiples of `unit` (16 elements keeps every SIMD
 * step where one thread has it, so the values are the same bits); `args(start, count)` gives a
 * part's arguments. Returns false, having run nothing, when the pool is off, not on `call`'s
 * memory, or the work is too small (`n · itemSize` under {@linkcode THREADED_MIN_ELEMENTS}).
 *
 * @example
 * ```ts
 * import { threadedParts, withKernelCall } from "@hest/hest";
 * withKernelCall((call) =>
 *   threadedParts(call, { name: "gelu_forward", n: 8, args: (s, c) => [s, s, 0, c] })
 * ); // false with one thread
 * ```
 */
export function threadedParts(
  call: KernelCall,
  opts: {
    name: string;
    n: number;
    args: (start: number, count: number) => number[];
    unit?: number;
    itemSize?: number;
  },
): boolean {
  if (threads < 2 || opts.n * (opts.itemSize ?? 1) < THREADED_MIN_ELEMENTS) return false;
  return withThreads(call, (tc) => {
    const parts = splitRange(opts.n, tc.threads, opts.unit ?? 16);
    tc.run(parts.map(([start, count]) => ({ name: opts.name, args: opts.args(start, count) })));
    return true;
  }) ?? false;
}
