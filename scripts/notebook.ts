/**
 * Run the Deno-kernel notebooks with the Deno that runs this task, so a machine with only
 * Node.js, npm and Jupyter needs no `deno` on its PATH:
 *
 *     npx --yes deno@2.9.6 task notebook notebooks/01_quickstart.ipynb   # execute headlessly
 *     npx --yes deno@2.9.6 task notebook --install                         # kernel for jupyter lab
 *
 * Executing runs `jupyter nbconvert --execute` with the repository's kernelspec
 * (notebooks/kernels/deno, which starts `deno jupyter --kernel`) and a PATH whose `deno` is this
 * process's own binary; the executed copies go to `--out`. `--install` runs
 * `deno jupyter --install` with this binary, which registers a kernelspec holding its absolute
 * path, for interactive use in JupyterLab or Notebook. Jupyter comes from Debian:
 * `apt-get install jupyter-nbconvert jupyter-client` (and `jupyter-notebook` to open them).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runMain, UsageError } from "./_cli.ts";

const USAGE = `usage: deno task notebook [options] NOTEBOOK.ipynb ...
       deno task notebook --install

Execute Deno-kernel notebooks headlessly (jupyter nbconvert) with this Deno, or install the
Deno kernel for JupyterLab / Notebook.

  --out DIR        folder for the executed copies (default runs/notebooks)
  --timeout S      per-cell timeout in seconds (default 600)
  --install        register the "deno" kernel of this Deno with Jupyter (deno jupyter --install)
  -h, --help       this text

Needs Jupyter: apt-get install -y --no-install-recommends jupyter-nbconvert jupyter-client`;

const KERNELS = new URL("../notebooks", import.meta.url).pathname;

async function jupyterPresent(): Promise<void> {
  try {
    const out = await new Deno.Command("jupyter", {
      args: ["nbconvert", "--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    if (out.success) return;
  } catch {
    // not installed: the error below says how to get it
  }
  throw new UsageError(
    "jupyter nbconvert was not found: apt-get install -y --no-install-recommends " +
      "jupyter-nbconvert jupyter-client",
  );
}

await runMain(USAGE, async () => {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        out: { type: "string" },
        timeout: { type: "string" },
        install: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0]);
  }
  const f = parsed.values;
  const notebooks = parsed.positionals;
  if (f.help) {
    console.log(USAGE);
    return;
  }
  if (f.install) {
    if (notebooks.length > 0) throw new UsageError("--install takes no notebooks");
    const out = await new Deno.Command(Deno.execPath(), { args: ["jupyter", "--install"] })
      .output();
    if (!out.success) throw new Error(`deno jupyter --install failed (exit ${out.code})`);
    console.log(`installed the Deno kernel (${Deno.execPath()}) for Jupyter`);
    return;
  }
  if (notebooks.length === 0) throw new UsageError("give one or more .ipynb files to execute");
  for (const nb of notebooks) {
    if (!nb.endsWith(".ipynb")) throw new UsageError(`expected .ipynb files, found "${nb}"`);
    try {
      if (!(await Deno.stat(nb)).isFile) throw new Error("not a file");
    } catch {
      throw new UsageError(`${nb}: no such notebook file`);
    }
  }
  const timeout = f.timeout === undefined ? 600 : Number(f.timeout);
  if (!Number.isInteger(timeout) || timeout < 1) {
    throw new UsageError(`--timeout must be an integer >= 1, found "${f.timeout}"`);
  }
  await jupyterPresent();
  const outDir = f.out ?? "runs/notebooks";
  await Deno.mkdir(outDir, { recursive: true });
  const tmp = await Deno.makeTempDir({ prefix: "hest_nb_" });
  try {
    // the kernelspec starts `deno` from PATH: make that this process's own binary
    const bin = `${tmp}/bin`;
    await Deno.mkdir(bin);
    await Deno.symlink(Deno.execPath(), `${bin}/deno`);
    const env = {
      PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      JUPYTER_PATH: KERNELS,
      JUPYTER_CONFIG_DIR: `${tmp}/config`,
      JUPYTER_DATA_DIR: `${tmp}/data`,
      JUPYTER_RUNTIME_DIR: `${tmp}/runtime`,
      NO_COLOR: "1",
    };
    for (const nb of notebooks) {
      const t0 = performance.now();
      const out = await new Deno.Command("jupyter", {
        args: [
          "nbconvert",
          "--to",
          "notebook",
          "--execute",
          `--ExecutePreprocessor.timeout=${timeout}`,
          "--ExecutePreprocessor.kernel_name=deno",
          "--output-dir",
          outDir,
          nb,
        ],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        const log = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-15).join("\n");
        throw new Error(`${nb}: execution failed (exit ${out.code}):\n${log}`);
      }
      const name = nb.split("/").pop();
      console.log(
        `${nb}: executed in ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${outDir}/${name}`,
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
