/**
 * Several data files read as one: nlb_tools writes the train inputs, the eval inputs and the
 * eval targets to separate files (`train_input.h5`, `eval_input.h5`, `target_data.h5`), and a
 * dataset needs all of them.
 *
 * A data path lists them **comma-separated** (`"train_input.h5,eval_input.h5,target_data.h5"`,
 * also as `--data` on the command line and `"path"` in a run config); a path that names an
 * existing file is read as that one file even when it contains a comma. The files' arrays are
 * merged into one {@linkcode ArraySource}: a key is read from the first file listed that has it,
 * and errors name the file the key came from.
 *
 * @module
 */
import { DatasetError } from "./dataset.ts";
import type { Hdf5File } from "./hdf5.ts";
import { type ArraySource, loadError } from "./ndarray.ts";

/**
 * The file paths a data path names: the path itself, or the entries of a comma-separated list
 * (blanks around commas ignored). A path that exists as it is stays one path.
 *
 * @example
 * ```ts
 * import { dataPaths } from "@hest/hest";
 * await dataPaths("train_input.h5,eval_input.h5"); // ["train_input.h5", "eval_input.h5"]
 * ```
 */
export async function dataPaths(path: string): Promise<string[]> {
  if (!path.includes(",")) return [path];
  if (await Deno.stat(path).then(() => true, () => false)) return [path];
  const parts = path.split(",").map((p) => p.trim());
  if (parts.some((p) => p === "")) {
    throw new DatasetError(
      `${path}: an empty entry in the comma-separated list of data files; expected paths ` +
        `separated by single commas`,
    );
  }
  const dup = parts.find((p, i) => parts.indexOf(p) !== i);
  if (dup !== undefined) {
    throw new DatasetError(`${path}: "${dup}" is listed twice; expected each data file once`);
  }
  return parts;
}

/**
 * The arrays of one HDF5 file in a list of files: the `group` when the file has it, else the
 * root when it holds datasets (nlb_tools' input files), else the one group that does (the
 * `{dataset}` group of nlb_tools' target file, e.g. `mc_maze_small`).
 *
 * @example
 * ```ts
 * import { hdf5FileSource, openHdf5 } from "@hest/hest";
 * const f = await openHdf5("target_data.h5");
 * hdf5FileSource(f).groupName; // "mc_maze_small"
 * f.close();
 * ```
 */
export function hdf5FileSource(f: Hdf5File, group?: string): ArraySource {
  if (group !== undefined && f.isGroup(group)) return f.group(group);
  const root = f.group("");
  if (root.keys().length > 0) return root;
  const groups = f.members("").filter((g) => f.isGroup(g) && f.group(g).keys().length > 0);
  if (groups.length === 1) return f.group(groups[0]);
  if (groups.length === 0) {
    throw loadError(f.file, undefined, "holds no datasets, at its root or in a group");
  }
  throw loadError(
    f.file,
    undefined,
    `several groups hold datasets (${groups.join(", ")}); pick one with the "group" option`,
  );
}

/**
 * One {@linkcode ArraySource} over several: a key is read from the first source that has it,
 * `fileOf` says which file that is, and a numeric attribute must agree wherever it is given.
 * `groupName` is the one group name the sources share (unset when none or several). `close()`
 * closes them all.
 *
 * @example
 * ```ts
 * import { memorySource, mergeSources, ndarray } from "@hest/hest";
 * const a = memorySource("a.npz", { x: ndarray([1], [1], { file: "a.npz", key: "x", dtype: "f8" }) });
 * const b = memorySource("b.npz", { y: ndarray([2], [1], { file: "b.npz", key: "y", dtype: "f8" }) });
 * mergeSources([a, b], "a.npz,b.npz").fileOf?.("y"); // "b.npz"
 * ```
 */
export function mergeSources(sources: readonly ArraySource[], file: string): ArraySource {
  const owner = (k: string) => sources.find((s) => s.has(k));
  const groups = [...new Set(sources.map((s) => s.groupName).filter((g) => g !== undefined))];
  return {
    file,
    ...(groups.length === 1 ? { groupName: groups[0] } : {}),
    keys: () => [...new Set(sources.flatMap((s) => s.keys()))],
    has: (k) => owner(k) !== undefined,
    get(k) {
      const s = owner(k);
      if (s === undefined) {
        throw loadError(
          file,
          k,
          `not found in any of the files; they have: ${
            [...new Set(sources.flatMap((s) => s.keys()))].join(", ") || "(no arrays)"
          }`,
        );
      }
      return s.get(k);
    },
    fileOf: (k) => owner(k)?.file ?? file,
    attr(name) {
      const given = sources
        .map((s) => [s.file, s.attr(name)] as const)
        .filter(([, v]) => v !== undefined);
      if (new Set(given.map(([, v]) => v)).size > 1) {
        throw loadError(
          file,
          undefined,
          `the files disagree on ${name}: ${given.map(([f, v]) => `${f} says ${v}`).join(", ")}`,
        );
      }
      return given[0]?.[1];
    },
    close() {
      for (const s of sources) s.close?.();
    },
  };
}
