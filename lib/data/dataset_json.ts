/**
 * The hest dataset JSON format.
 *
 * The format JSON format is the {@linkcode SpikeDatasetInit} fields with arrays written as
 * nested JSON arrays: `{"name": "...", "binSizeMs": 20, "counts": [[[0, 1, …], …], …],
 * "heldOut": [3, 7], …}`. `counts`, `forwardCounts`, `trueRates`, `forwardTrueRates` and
 * `behavior` are `[trials][bins][neurons or dims]` nested arrays.
 *
 * @module
 */
import {
  type Array3D,
  DatasetError,
  type SpikeDataset,
  spikeDataset,
  type SpikeDatasetInit,
} from "./dataset.ts";

function nested3d(field: string, v: unknown, file: string): Array3D {
  if (!Array.isArray(v)) {
    throw new DatasetError(`${file}: "${field}" must be a [trials][bins][n] array`);
  }
  const a = v.length;
  const b = Array.isArray(v[0]) ? v[0].length : -1;
  const c = b > 0 && Array.isArray(v[0][0]) ? v[0][0].length : b === 0 ? 0 : -1;
  if (b < 0 || c < 0) {
    throw new DatasetError(`${file}: "${field}" must be a [trials][bins][n] array`);
  }
  const out = new Float32Array(a * b * c);
  for (let i = 0; i < a; i++) {
    if (!Array.isArray(v[i]) || v[i].length !== b) {
      throw new DatasetError(
        `${file}: "${field}"[${i}] has a different number of bins than [0] (${b})`,
      );
    }
    for (let j = 0; j < b; j++) {
      const row = v[i][j];
      if (!Array.isArray(row) || row.length !== c) {
        throw new DatasetError(`${file}: "${field}"[${i}][${j}] must have ${c} values`);
      }
      for (let k = 0; k < c; k++) {
        const x = row[k];
        if (typeof x !== "number" && x !== null) {
          throw new DatasetError(`${file}: "${field}"[${i}][${j}][${k}] is not a number`);
        }
        out[(i * b + j) * c + k] = x === null ? NaN : x;
      }
    }
  }
  return { data: out, shape: [a, b, c] };
}

/**
 * Read a dataset from hest dataset JSON (see the module docs) and validate it.
 *
 * @example
 * ```ts
 * import { loadDatasetJson } from "@hest/hest";
 * const ds = await loadDatasetJson("my_data.json");
 * ```
 */
export async function loadDatasetJson(path: string): Promise<SpikeDataset> {
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    throw new DatasetError(`${path}: cannot read dataset JSON: ${(err as Error).message}`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw new DatasetError(`${path}: expected a JSON object with dataset fields`);
  }
  const r = raw as Record<string, unknown>;
  const init: Record<string, unknown> = { ...r };
  for (const f of ["counts", "forwardCounts", "trueRates", "forwardTrueRates", "behavior"]) {
    if (r[f] !== undefined) init[f] = nested3d(f, r[f], path);
  }
  try {
    return spikeDataset(init as unknown as SpikeDatasetInit);
  } catch (err) {
    throw new DatasetError(`${path}: ${(err as Error).message}`);
  }
}
