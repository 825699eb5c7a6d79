/**
 * The bench's measuring helpers (scripts/bench.ts): timing a step, a row's summary (median, p99,
 * min, max), the process's peak memory and the machine the numbers come from.
 *
 * @module
 */
import type { Row } from "./_bench_torch.ts";

/** Round to two decimals (the JSON's milliseconds and GFLOP/s). */
export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** A row from its timed milliseconds: median, p99, min, max and n, then `extra`. */
export function summary(name: string, ts: number[], extra: Record<string, unknown>): Row {
  const s = [...ts].sort((a, b) => a - b);
  return {
    name,
    medianMs: round3(quantile(s, 0.5)),
    p99Ms: round3(quantile(s, 0.99)),
    minMs: round3(s[0]),
    maxMs: round3(s[s.length - 1]),
    n: s.length,
    ...extra,
  };
}

/** Run `fn` `warmup` times untimed, then `reps` times; the timed milliseconds. */
export async function time(
  warmup: number,
  reps: number,
  fn: () => Promise<void>,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return ts;
}

/** Peak resident set size (VmHWM) in MiB, or the current RSS where /proc is unavailable. */
export async function peakRssMb(): Promise<number> {
  try {
    const status = await Deno.readTextFile("/proc/self/status");
    const m = status.match(/VmHWM:\s+(\d+) kB/);
    if (m) return Math.round(Number(m[1]) / 1024);
  } catch {
    // not Linux: fall through
  }
  return Math.round(Deno.memoryUsage().rss / 2 ** 20);
}

/** A text file, or undefined where it cannot be read. */
export async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

/** The machine and runtime the numbers come from. */
export async function machine(backend: string): Promise<Record<string, unknown>> {
  const cpuinfo = await readText("/proc/cpuinfo");
  const meminfo = await readText("/proc/meminfo");
  const out: Record<string, unknown> = {
    os: Deno.build.os,
    arch: Deno.build.arch,
    cpu: cpuinfo?.match(/model name\s*:\s*(.+)/)?.[1]?.trim(),
    cores: navigator.hardwareConcurrency,
    memTotalMb: meminfo
      ? Math.round(Number(meminfo.match(/MemTotal:\s+(\d+)/)?.[1]) / 1024)
      : undefined,
    loadAvgStart: (await readText("/proc/loadavg"))?.split(" ").slice(0, 3).map(Number),
  };
  if (backend === "webgpu") {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    const adapter = await gpu?.requestAdapter() as
      | { info?: Record<string, string> }
      | null
      | undefined;
    const info = adapter?.info;
    if (info) {
      out.gpu = {
        vendor: info.vendor,
        architecture: info.architecture,
        device: info.device,
        description: info.description,
      };
    }
  }
  return out;
}
