/**
 * Headless rendering of Vega-Lite specs: {@linkcode renderSvg} (vega + vega-lite, no canvas, no
 * browser), {@linkcode svgToPng} / {@linkcode renderPng} (resvg compiled to WASM) and
 * {@linkcode saveFigure} (SVG, PNG and/or the spec, written atomically).
 *
 * PNG text needs a font file: DejaVu Sans (Debian `fonts-dejavu-core`) is found at its usual
 * paths, or pass `fontFiles`. Without a font the rasteriser would silently drop every label, so
 * a missing font is an error.
 *
 * vega, vega-lite and resvg are imported statically, pinned by `deno.lock`: nothing is fetched
 * while a figure renders, and a run on a filled Deno cache prints nothing. The
 * `Download https://registry.npmjs.org/…` lines of the very first run on a machine (or with a
 * fresh `DENO_DIR`) are Deno filling its npm cache once (the packuments of the npm packages the
 * program imports, then every tarball `deno.lock` lists, with a one-time "Ignored build scripts
 * for packages: npm:core-js" warning from TensorFlow.js's dependencies), not this module. Run
 * `deno install --frozen` once beforehand to fill the cache up front, and pass `--cached-only`
 * to make a run fail rather than go to the network.
 *
 * @module
 */
import * as vega from "vega";
import * as vl from "vega-lite";
import { initWasm, Resvg } from "@resvg/resvg-wasm";
import { createRequire } from "node:module";
import { writeFileAtomic } from "../core/io.ts";
import type { ChartSpec } from "./charts.ts";
import { describe } from "./chart_checks.ts";

// ---------------------------------------------------------------------------------------------
// text metrics
//
// Headless vega has no canvas to measure text, and its fallback estimate (0.8 em per character)
// is far too wide: long axis titles then push the plot away from its title and axis. vega lets a
// user-defined `textMetrics.width` replace it (as vl-convert does); we measure with the advance
// widths of the font the PNG is drawn with (DejaVu Sans, read from its TTF `cmap`/`hmtx`), or, when
// the font file is missing, 0.6 em per character (DejaVu's average).

interface FontWidths {
  /** Advance width in em of a UTF-16 code unit (NaN: not in the font). */
  em(code: number): number;
}

function parseTtfWidths(bytes: Uint8Array): FontWidths {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tables = new Map<string, number>();
  const n = v.getUint16(4);
  for (let i = 0; i < n; i++) {
    const rec = 12 + 16 * i;
    const tag = String.fromCharCode(...bytes.subarray(rec, rec + 4));
    tables.set(tag, v.getUint32(rec + 8));
  }
  const head = tables.get("head"), hhea = tables.get("hhea");
  const hmtx = tables.get("hmtx"), cmap = tables.get("cmap");
  if (head === undefined || hhea === undefined || hmtx === undefined || cmap === undefined) {
    throw new Error("not a TrueType font with head, hhea, hmtx and cmap tables");
  }
  const unitsPerEm = v.getUint16(head + 18);
  const nMetrics = v.getUint16(hhea + 34);
  let sub = -1;
  for (let i = 0, m = v.getUint16(cmap + 2); i < m; i++) {
    const rec = cmap + 4 + 8 * i;
    const platform = v.getUint16(rec), encoding = v.getUint16(rec + 2);
    const off = cmap + v.getUint32(rec + 4);
    if (v.getUint16(off) === 4 && (platform === 3 && encoding === 1 || platform === 0)) sub = off;
  }
  if (sub < 0) throw new Error("no Unicode BMP (format 4) cmap subtable");
  const segs = v.getUint16(sub + 6) / 2;
  const ends = sub + 14, starts = ends + 2 * segs + 2;
  const deltas = starts + 2 * segs, ranges = deltas + 2 * segs;
  const glyph = (c: number): number => {
    for (let s = 0; s < segs; s++) {
      if (v.getUint16(ends + 2 * s) < c) continue;
      const start = v.getUint16(starts + 2 * s);
      if (start > c) return 0;
      const delta = v.getInt16(deltas + 2 * s);
      const ro = v.getUint16(ranges + 2 * s);
      if (ro === 0) return (c + delta) & 0xffff;
      const g = v.getUint16(ranges + 2 * s + ro + 2 * (c - start));
      return g === 0 ? 0 : (g + delta) & 0xffff;
    }
    return 0;
  };
  const cache = new Map<number, number>();
  return {
    em(code: number): number {
      let w = cache.get(code);
      if (w === undefined) {
        const g = glyph(code);
        w = g === 0 ? NaN : v.getUint16(hmtx + 4 * Math.min(g, nMetrics - 1)) / unitsPerEm;
        cache.set(code, w);
      }
      return w;
    },
  };
}

const ESTIMATE_EM = 0.6;
let metricsReady: Promise<void> | undefined;

function isBold(weight: unknown): boolean {
  return weight === "bold" || weight === "bolder" ||
    (typeof weight === "number" && weight >= 600) ||
    (typeof weight === "string" && Number(weight) >= 600);
}

function installTextMetrics(): Promise<void> {
  metricsReady ??= (async () => {
    const load = async (path: string) => {
      try {
        return parseTtfWidths(await Deno.readFile(path));
      } catch {
        return undefined;
      }
    };
    const [regular, bold] = await Promise.all(DEFAULT_FONT_FILES.map(load));
    const measure = (text: string, size: number, heavy: boolean): number => {
      const font = heavy ? bold ?? regular : regular;
      let em = 0;
      for (let i = 0; i < text.length; i++) {
        const w = font ? font.em(text.charCodeAt(i)) : NaN;
        em += Number.isNaN(w) ? ESTIMATE_EM : w;
      }
      return em * size;
    };
    type TextItem = { fontSize?: number; fontWeight?: unknown; limit?: number };
    const metrics = (vega as unknown as {
      textMetrics: { width: (item: TextItem, text: unknown) => number };
    }).textMetrics;
    metrics.width = (item: TextItem, text: unknown): number => {
      const size = item.fontSize != null ? +item.fontSize || 0 : 11;
      const t = text == null ? "" : String(text).trim();
      return size <= 0 ? 0 : measure(t, size, isBold(item.fontWeight));
    };
  })();
  return metricsReady;
}

// ---------------------------------------------------------------------------------------------
// rendering

/**
 * Compile a Vega-Lite spec and render it to an SVG string, headless (no canvas, no browser).
 * A spec that does not compile throws, with Vega-Lite's message.
 *
 * @example
 * ```ts
 * import { firingRateChart, renderSvg } from "@hest/hest";
 * const svg = await renderSvg(firingRateChart([{ site: "a", rate: 0.1 }]));
 * svg.startsWith("<svg"); // true
 * ```
 */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  await installTextMetrics();
  let compiled: vega.Spec;
  try {
    // vega tags inline data rows in place (Symbol(vega_id)): render a copy, keep the spec clean
    compiled = vl.compile(structuredClone(spec)).spec;
  } catch (err) {
    throw new Error(`renderSvg: the Vega-Lite spec does not compile: ${(err as Error).message}`);
  }
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Options of {@linkcode renderPng} and {@linkcode svgToPng}. */
export interface PngOptions {
  /** Zoom factor: the PNG is `scale ×` the SVG's size (default 2). */
  scale?: number;
  /** Font files (TTF/OTF) to draw text with (default DejaVu Sans at its Debian paths). */
  fontFiles?: readonly string[];
}

/**
 * Where {@linkcode svgToPng} looks for fonts when `fontFiles` is not given (Debian's
 * `fonts-dejavu-core`); text layout uses the same files' glyph widths.
 *
 * @example
 * ```ts
 * import { DEFAULT_FONT_FILES } from "@hest/hest";
 * DEFAULT_FONT_FILES[0]; // "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
 * ```
 */
export const DEFAULT_FONT_FILES: readonly string[] = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
];

let wasmReady: Promise<void> | undefined;
const fontCache = new Map<string, Uint8Array>();

function resvgReady(): Promise<void> {
  if (!wasmReady) {
    wasmReady = (async () => {
      const path = createRequire(import.meta.url).resolve("@resvg/resvg-wasm/index_bg.wasm");
      await initWasm(await Deno.readFile(path));
    })();
    wasmReady.catch(() => (wasmReady = undefined));
  }
  return wasmReady;
}

async function loadFonts(files: readonly string[] | undefined): Promise<Uint8Array[]> {
  const explicit = files !== undefined;
  const list = files ?? DEFAULT_FONT_FILES;
  const out: Uint8Array[] = [];
  for (const f of list) {
    let bytes = fontCache.get(f);
    if (!bytes) {
      try {
        bytes = await Deno.readFile(f);
      } catch (err) {
        if (explicit) {
          throw new Error(`svgToPng: cannot read font file ${f}: ${(err as Error).message}`);
        }
        continue;
      }
      fontCache.set(f, bytes);
    }
    out.push(bytes);
  }
  if (out.length === 0) {
    throw new Error(
      `svgToPng: no font file found (looked for ${list.join(", ")}); without one every label ` +
        `would silently vanish from the PNG. Install the Debian package fonts-dejavu-core or pass fontFiles`,
    );
  }
  return out;
}

/**
 * Rasterise an SVG string to PNG bytes with resvg (WASM), `scale ×` its size, on white.
 *
 * @example
 * ```ts
 * import { svgToPng } from "@hest/hest";
 * const png = await svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
 * ```
 */
export async function svgToPng(svg: string, opts: PngOptions = {}): Promise<Uint8Array> {
  const scale = opts.scale ?? 2;
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new Error(`svgToPng: option scale must be a positive number, found ${describe(scale)}`);
  }
  const [fontBuffers] = await Promise.all([loadFonts(opts.fontFiles), resvgReady()]);
  const r = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    font: {
      fontBuffers,
      loadSystemFonts: false,
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
  });
  try {
    const img = r.render();
    try {
      return img.asPng();
    } finally {
      img.free();
    }
  } finally {
    r.free();
  }
}

/**
 * Render a Vega-Lite spec to PNG bytes (via {@linkcode renderSvg} and {@linkcode svgToPng}).
 *
 * @example
 * ```ts
 * import { firingRateChart, renderPng } from "@hest/hest";
 * const png = await renderPng(firingRateChart([{ site: "a", rate: 0.1 }]), { scale: 2 });
 * ```
 */
export async function renderPng(spec: ChartSpec, opts: PngOptions = {}): Promise<Uint8Array> {
  return await svgToPng(await renderSvg(spec), opts);
}

/** File formats {@linkcode saveFigure} writes: `"json"` is the Vega-Lite spec (`.vl.json`). */
export type FigureFormat = "svg" | "png" | "json";

/** Options of {@linkcode saveFigure}. */
export interface SaveFigureOptions extends PngOptions {
  /** Formats to write (default `["svg", "png"]`). */
  formats?: readonly FigureFormat[];
}

/**
 * Render `spec` and write `<path>.svg`, `<path>.png` and/or `<path>.vl.json` atomically,
 * creating the folder. Returns the paths written.
 *
 * @example
 * ```ts
 * import { firingRateChart, saveFigure } from "@hest/hest";
 * const files = await saveFigure(firingRateChart([{ site: "a", rate: 0.1 }]), "/tmp/rates");
 * // ["/tmp/rates.svg", "/tmp/rates.png"]
 * ```
 */
export async function saveFigure(
  spec: ChartSpec,
  path: string,
  opts: SaveFigureOptions = {},
): Promise<string[]> {
  const formats = opts.formats ?? ["svg", "png"];
  for (const f of formats) {
    if (f !== "svg" && f !== "png" && f !== "json") {
      throw new Error(`saveFigure: formats must be "svg", "png" or "json", found ${describe(f)}`);
    }
  }
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  const svg = formats.some((f) => f !== "json") ? await renderSvg(spec) : "";
  const written: string[] = [];
  for (const f of formats) {
    if (f === "svg") {
      await writeFileAtomic(`${path}.svg`, svg);
      written.push(`${path}.svg`);
    } else if (f === "png") {
      await writeFileAtomic(`${path}.png`, await svgToPng(svg, opts));
      written.push(`${path}.png`);
    } else {
      await writeFileAtomic(`${path}.vl.json`, JSON.stringify(spec, null, 2) + "\n");
      written.push(`${path}.vl.json`);
    }
  }
  return written;
}
