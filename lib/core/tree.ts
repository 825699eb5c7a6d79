/**
 * Parameter trees: plain nested records of tensors, as in JAX/Equinox.
 *
 * A {@linkcode Params} tree is an object whose leaves are `tf.Tensor`s and whose inner nodes are
 * plain objects (keys sorted when flattened, so the order is stable). Paths join keys with `.`,
 * e.g. `"blocks.0.attn.wq"`; arrays are not used, numbered layers are records keyed `"0"`, `"1"`.
 *
 * @module
 */
import { tf } from "./backend.ts";

/** A nested record of tensors. */
export interface Params {
  /** A leaf tensor or a nested record, by name. */
  [name: string]: tf.Tensor | Params;
}

/** One leaf of a flattened tree. */
export interface Leaf {
  /** Dotted path, e.g. `"blocks.0.ff.w1"`. */
  readonly path: string;
  /** The tensor at that path. */
  readonly tensor: tf.Tensor;
}

function isTensor(x: unknown): x is tf.Tensor {
  return x instanceof tf.Tensor;
}

/**
 * Flatten a tree into leaves in sorted-path order.
 *
 * @example
 * ```ts
 * import { flatten, tf } from "@hest/hest";
 * flatten({ b: tf.scalar(1), a: { w: tf.zeros([2]) } }).map((l) => l.path); // ["a.w", "b"]
 * ```
 */
export function flatten(tree: Params, prefix = ""): Leaf[] {
  const out: Leaf[] = [];
  for (const k of Object.keys(tree).sort()) {
    if (k.includes(".")) throw new Error(`parameter name "${k}" must not contain "."`);
    const v = tree[k];
    const p = prefix ? `${prefix}.${k}` : k;
    if (isTensor(v)) out.push({ path: p, tensor: v });
    else if (v && typeof v === "object") out.push(...flatten(v, p));
    else throw new TypeError(`parameter "${p}" is neither a tensor nor a record`);
  }
  return out;
}

/**
 * Rebuild a tree from `(path, tensor)` pairs.
 *
 * @example
 * ```ts
 * import { tf, unflatten } from "@hest/hest";
 * const p = unflatten([{ path: "a.w", tensor: tf.zeros([2]) }]);
 * ```
 */
export function unflatten(leaves: readonly Leaf[]): Params {
  const root: Params = {};
  for (const { path, tensor } of leaves) {
    const parts = path.split(".");
    let node = root;
    for (const part of parts.slice(0, -1)) {
      if (!(part in node)) node[part] = {};
      const next = node[part];
      if (isTensor(next)) throw new Error(`path "${path}" passes through a tensor at "${part}"`);
      node = next;
    }
    node[parts[parts.length - 1]] = tensor;
  }
  return root;
}

/**
 * Apply `fn` to every leaf (with its path), returning a tree of the same structure.
 *
 * @example
 * ```ts
 * import { mapTree, tf } from "@hest/hest";
 * const zeros = mapTree({ w: tf.ones([2]) }, (t) => tf.zerosLike(t));
 * ```
 */
export function mapTree(tree: Params, fn: (t: tf.Tensor, path: string) => tf.Tensor): Params {
  return unflatten(flatten(tree).map(({ path, tensor }) => ({ path, tensor: fn(tensor, path) })));
}

/**
 * Dispose every tensor of a tree.
 *
 * @example
 * ```ts
 * import { disposeTree, tf } from "@hest/hest";
 * disposeTree({ w: tf.ones([2]) });
 * ```
 */
export function disposeTree(tree: Params): void {
  for (const { tensor } of flatten(tree)) tensor.dispose();
}

/**
 * Total number of scalar parameters in a tree.
 *
 * @example
 * ```ts
 * import { countParams, tf } from "@hest/hest";
 * countParams({ w: tf.ones([2, 3]), b: tf.ones([3]) }); // 9
 * ```
 */
export function countParams(tree: Params): number {
  return flatten(tree).reduce((n, l) => n + l.tensor.size, 0);
}

/**
 * Look up a leaf by dotted path; throws naming the path when it is missing.
 *
 * @example
 * ```ts
 * import { getLeaf, tf } from "@hest/hest";
 * getLeaf({ a: { w: tf.ones([1]) } }, "a.w");
 * ```
 */
export function getLeaf(tree: Params, path: string): tf.Tensor {
  let node: tf.Tensor | Params = tree;
  for (const part of path.split(".")) {
    if (isTensor(node) || !(part in node)) throw new Error(`no parameter at path "${path}"`);
    node = node[part];
  }
  if (!isTensor(node)) throw new Error(`path "${path}" is a record, not a tensor`);
  return node;
}
