/**
 * Executes every notebook in notebooks/ headlessly the way the README says
 * (`deno task notebook`: `jupyter nbconvert --execute` with the repository's Deno kernelspec and
 * this Deno as `deno`, so none needs to be on PATH) and checks that no cell failed and that each notebook displayed
 * figures. Jupyter comes from Debian packages (installed by .ci/run); without it this test fails
 * and says what to install.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const NOTEBOOKS = join(ROOT, "notebooks");
const APT =
  "apt-get install -y --no-install-recommends jupyter-nbconvert jupyter-client fonts-dejavu-core";
/** Figures (image/svg+xml or image/png outputs) each notebook must display at least. */
const MIN_FIGURES: Record<string, number> = {
  "01_quickstart.ipynb": 2,
  "02_ablation_figures.ipynb": 4,
  "03_energy_analysis.ipynb": 2,
};
/** Per-cell execution limit (s); each notebook takes 5–20 s on the 2-core machine. */
const CELL_TIMEOUT_S = 300;

interface NotebookOutput {
  output_type: string;
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
}

interface Notebook {
  cells: { cell_type: string; source: string | string[]; outputs?: NotebookOutput[] }[];
  metadata: { kernelspec?: { name?: string } };
}

async function jupyterVersion(): Promise<string> {
  try {
    const out = await new Deno.Command("jupyter", { args: ["nbconvert", "--version"] }).output();
    if (out.success) return new TextDecoder().decode(out.stdout).trim();
    throw new Error(new TextDecoder().decode(out.stderr).trim());
  } catch (err) {
    throw new Error(
      `jupyter nbconvert is needed to execute the notebooks and was not found or does not run ` +
        `(${(err as Error).message}). Install Debian's packages: ${APT}`,
    );
  }
}

async function notebookNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(NOTEBOOKS)) {
    if (e.isFile && e.name.endsWith(".ipynb")) names.push(e.name);
  }
  return names.sort();
}

Deno.test("notebooks: kernelspec and notebook metadata", async () => {
  const spec = JSON.parse(await Deno.readTextFile(join(NOTEBOOKS, "kernels/deno/kernel.json")));
  assert.deepEqual(spec.argv, ["deno", "jupyter", "--kernel", "--conn", "{connection_file}"]);
  assert.equal(spec.language, "typescript");
  const names = await notebookNames();
  assert.deepEqual(names, Object.keys(MIN_FIGURES).sort(), "every notebook has an expectation");
  for (const name of names) {
    const nb: Notebook = JSON.parse(await Deno.readTextFile(join(NOTEBOOKS, name)));
    assert.equal(nb.metadata.kernelspec?.name, "deno", `${name}: kernelspec name`);
    const code = nb.cells.filter((c) => c.cell_type === "code");
    assert.ok(code.length > 0, `${name} has code cells`);
    assert.ok(
      code.every((c) => (c.outputs ?? []).length === 0),
      `${name} is committed without outputs`,
    );
    const src = code.map((c) => Array.isArray(c.source) ? c.source.join("") : c.source).join("\n");
    assert.match(src, /from "\.\.\/mod\.ts"/, `${name} imports the toolkit from ../mod.ts`);
  }
});

for (const name of Object.keys(MIN_FIGURES)) {
  Deno.test(`notebooks: ${name} executes headlessly without errors and shows figures`, async () => {
    await jupyterVersion();
    const tmp = await Deno.makeTempDir({ prefix: "hest_nb_" });
    try {
      const started = performance.now();
      // the README's command: the notebook task runs Jupyter with this Deno as the kernel
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--frozen",
          "scripts/notebook.ts",
          "--timeout",
          String(CELL_TIMEOUT_S),
          "--out",
          tmp,
          join("notebooks", name),
        ],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const seconds = (performance.now() - started) / 1000;
      const log = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
      assert.ok(out.success, `${name}: nbconvert failed (exit ${out.code}):\n${log.slice(-6000)}`);
      const nb: Notebook = JSON.parse(await Deno.readTextFile(join(tmp, name)));
      const outputs = nb.cells.flatMap((c) => c.outputs ?? []);
      const errors = outputs.filter((o) => o.output_type === "error");
      assert.deepEqual(
        errors.map((e) => `${e.ename}: ${e.evalue}`),
        [],
        `${name}: cells raised errors`,
      );
      const figures = outputs.filter((o) =>
        (o.output_type === "display_data" || o.output_type === "execute_result") &&
        (typeof o.data?.["image/svg+xml"] !== "undefined" ||
          typeof o.data?.["image/png"] !== "undefined")
      );
      assert.ok(
        figures.length >= MIN_FIGURES[name],
        `${name}: expected at least ${MIN_FIGURES[name]} figures, found ${figures.length}`,
      );
      for (const f of figures) {
        const svg = f.data!["image/svg+xml"];
        if (svg !== undefined) {
          const text = Array.isArray(svg) ? svg.join("") : String(svg);
          assert.match(text, /^<svg[\s\S]*<\/svg>$/, `${name}: figure output is a whole SVG`);
        }
      }
      console.log(`${name}: ${figures.length} figures, ${seconds.toFixed(1)} s`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}
