/**
 * The PyTorch peer of the benchmark (scripts/torch_ref.py) without PyTorch: it is where bench.ts
 * looks for it by default, and its command line (help, argument errors) answers before importing
 * torch. Timing it needs PyTorch and minutes, so that stays with `deno task bench --vs-torch`.
 *
 * @module
 */
import assert from "node:assert/strict";

import { ROOT } from "./_script_util.ts";

const TORCH_REF = `${ROOT}scripts/torch_ref.py`;

/** Debian's python (what bench.ts runs), else a `python3` on PATH, else undefined. */
async function python(): Promise<string | undefined> {
  for (const exe of ["/usr/bin/python3", "python3"]) {
    try {
      const r = await new Deno.Command(exe, { args: ["--version"], stdout: "null", stderr: "null" })
        .output();
      if (r.success) return exe;
    } catch {
      // not installed: try the next one
    }
  }
  return undefined;
}

async function runTorchRef(exe: string, args: string[]) {
  const r = await new Deno.Command(exe, {
    args: [TORCH_REF, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("bench: the default --torch-ref is the repository's scripts/torch_ref.py", async () => {
  // the PyTorch side of the bench lives in scripts/_bench_torch.ts, next to torch_ref.py
  const src = await Deno.readTextFile(`${ROOT}scripts/_bench_torch.ts`);
  const m = src.match(/new URL\("(\.\/torch_ref\.py)", import\.meta\.url\)/);
  assert.ok(m, "the bench resolves its default torch_ref.py next to itself");
  const path = new URL(m[1], new URL("../scripts/_bench_torch.ts", import.meta.url));
  assert.ok((await Deno.stat(path)).isFile, `${path.pathname} exists`);
});

Deno.test("torch_ref.py: --help and argument errors need no PyTorch", async () => {
  const exe = await python();
  if (exe === undefined) {
    console.log("skipped: no python3 on this machine");
    return;
  }
  const help = await runTorchRef(exe, ["--help"]);
  assert.equal(help.code, 0, help.err);
  // the flags bench.ts passes (runTorch) are all documented
  for (
    const flag of [
      "--models",
      "--threads-list",
      "--no-sysinfo",
      "--no-matmul",
      "--quiet-wait",
      "--steps",
      "--warmup",
      "--infer-steps",
    ]
  ) {
    assert.match(help.out, new RegExp(`${flag}\\b`), flag);
  }
  const cases: [string[], RegExp][] = [
    [["--bogus"], /unrecognized arguments: --bogus/],
    [["--models", "standard,nope"], /unknown model 'nope'/],
    [["--steps", "0"], /--steps: expected an integer >= 1/],
    [["--threads-list", "1,x"], /--threads-list: expected an integer >= 1/],
  ];
  for (const [args, re] of cases) {
    const r = await runTorchRef(exe, args);
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.err}`);
    assert.match(r.err, re, args.join(" "));
  }
});
