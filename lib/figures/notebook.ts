/**
 * Jupyter display of charts: `await figure(spec)` as the last expression of a Deno notebook cell
 * shows it inline (the `Symbol.for("Jupyter.display")` protocol, which needs no `Deno.jupyter`),
 * and `await show(spec)` displays a chart or Markdown and waits until the output is out.
 *
 * @module
 */
import type { ChartSpec } from "./charts.ts";
import { describe } from "./chart_checks.ts";
import { type PngOptions, renderSvg, svgToPng } from "./render.ts";

/**
 * The symbol Deno's Jupyter kernel looks for on a cell's result (`Symbol.for("Jupyter.display")`).
 *
 * @example
 * ```ts
 * import { figure, firingRateChart, JUPYTER_DISPLAY } from "@hest/hest";
 * const fig = await figure(firingRateChart([{ site: "a", rate: 0.1 }]));
 * Object.keys(fig[JUPYTER_DISPLAY]()); // ["image/svg+xml", "text/plain"]
 * ```
 */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/** A MIME bundle, e.g. `{ "image/svg+xml": svg, "text/plain": title }`. */
export type MimeBundle = Record<string, string>;

/** A rendered chart that displays itself inline when it is a notebook cell's result. */
export interface Figure {
  /** The Vega-Lite spec. */
  readonly spec: ChartSpec;
  /** Rendered SVG. */
  readonly svg: string;
  /** Rendered PNG, when asked for. */
  readonly png?: Uint8Array;
  /** The MIME bundle Deno's Jupyter kernel displays. */
  [JUPYTER_DISPLAY](): MimeBundle;
}

/** Options of {@linkcode figure}. */
export interface FigureOptions extends PngOptions {
  /** Also render a PNG and put it in the bundle as `image/png` (default false). */
  png?: boolean;
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/**
 * Render a chart for a notebook: `await figure(spec)` as the last expression of a Deno Jupyter
 * cell shows the SVG inline (MIME bundle `image/svg+xml` + `text/plain`, and `image/png` with
 * `png: true`). Outside Jupyter it is a plain object holding the spec and the SVG.
 *
 * @example
 * ```ts
 * import { figure, firingRateChart } from "@hest/hest";
 * const fig = await figure(firingRateChart([{ site: "a", rate: 0.1 }]));
 * fig.svg.length > 0; // true
 * ```
 */
export async function figure(spec: ChartSpec, opts: FigureOptions = {}): Promise<Figure> {
  const svg = await renderSvg(spec);
  const png = opts.png ? await svgToPng(svg, opts) : undefined;
  const title = typeof spec.title === "string" ? spec.title : "chart";
  return {
    spec,
    svg,
    png,
    [JUPYTER_DISPLAY](): MimeBundle {
      const bundle: MimeBundle = { "image/svg+xml": svg, "text/plain": `[figure: ${title}]` };
      if (png) bundle["image/png"] = base64(png);
      return bundle;
    },
  };
}

/** Options of {@linkcode show}. */
export interface ShowOptions extends FigureOptions {
  /**
   * Milliseconds to wait after the output is sent (default 100). Deno's kernel (2.9) can publish
   * a cell's outputs after it reports the cell finished, and headless runners (nbconvert) then
   * drop them; waiting a moment before the cell ends keeps them.
   */
  settleMs?: number;
}

interface JupyterApi {
  display(obj: unknown, opts?: { raw?: boolean }): Promise<void>;
}

function jupyterApi(): JupyterApi | undefined {
  try {
    // Deno.jupyter exists only under `deno jupyter`; elsewhere even reading it throws.
    return (Deno as unknown as { jupyter?: JupyterApi }).jupyter;
  } catch {
    return undefined;
  }
}

function isFigure(x: unknown): x is Figure {
  return typeof x === "object" && x !== null &&
    typeof (x as Figure)[JUPYTER_DISPLAY] === "function";
}

/**
 * Show a chart (spec or {@linkcode Figure}) or a Markdown string in a Deno Jupyter notebook, and
 * wait until the output is safely out (see {@linkcode ShowOptions.settleMs}): `await show(spec)`
 * is the reliable way for notebooks that are executed headlessly. Outside Jupyter it prints the
 * text (a Markdown string, or `[figure: title]`) to stdout.
 *
 * @example
 * ```ts
 * import { firingRateChart, show } from "@hest/hest";
 * await show("**firing rates**");
 * await show(firingRateChart([{ site: "a", rate: 0.1 }]));
 * ```
 */
export async function show(
  content: ChartSpec | Figure | string,
  opts: ShowOptions = {},
): Promise<void> {
  let bundle: MimeBundle;
  if (typeof content === "string") {
    bundle = { "text/markdown": content, "text/plain": content };
  } else if (isFigure(content)) {
    bundle = content[JUPYTER_DISPLAY]();
  } else if (typeof content === "object" && content !== null) {
    bundle = (await figure(content, opts))[JUPYTER_DISPLAY]();
  } else {
    throw new Error(
      `show: content must be a chart spec, a figure or a string, found ${describe(content)}`,
    );
  }
  const jupyter = jupyterApi();
  if (!jupyter) {
    console.log(bundle["text/plain"]);
    return;
  }
  await jupyter.display(bundle, { raw: true });
  const ms = opts.settleMs ?? 100;
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
}
