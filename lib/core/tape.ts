/**
 * A leaner gradient tape for TF.js 4.22: the same gradients, computed by the same ops in the same
 * order, with less memory held during a training step.
 *
 * TF.js's backward pass (`engine.gradients`, tfjs-core tape.ts `backpropagateGradients`) keeps
 * two things until the whole gradient computation ends:
 *
 * - the gradient of every intermediate tensor (its map of gradients is only freed by the tidy
 *   around the whole backward pass), so by the end of the backward pass it holds about as many
 *   bytes of gradients as the forward pass saved activations;
 * - every tensor any taped op saved, although each is read by one node's gradient only.
 *
 * {@linkcode installLeanTape} replaces `engine.gradients` by a copy that frees a node's output
 * gradients and its saved tensors as soon as that node's gradient has been computed (tensors the
 * caller gets back, the `xs`' gradients, are never freed). Peak memory of a train step is then
 * about the forward pass's saved activations, not twice them.
 *
 * It also stops a few TF.js kernels from keeping tensors they save only to read their shape
 * (Reshape, ExpandDims, Add, Sub, Mean, Sum, Concat, Slice: their gradient functions read
 * `saved[i].shape` and nothing else). They save a data-less stand-in of the same shape and dtype
 * instead, so a reshape no longer keeps its input alive for the backward pass (a reshaped tensor
 * shares its data, but the reshape's *input* may otherwise be dead: e.g. the fused Q/K/V product
 * before its split, or spikes before the head transpose).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

// deno-lint-ignore no-explicit-any
type Any = any;

/** Kernels whose registered gradient reads only the shapes (and dtypes) of what they save. */
const SHAPE_ONLY = new Set([
  "Reshape",
  "ExpandDims",
  "Add",
  "Sub",
  "Mean",
  "Sum",
  "Concat",
  "Slice",
]);

/** The data id every stand-in shares: never registered with a backend, so never read or freed. */
const NO_DATA = Object.freeze({ standIn: true });

/** A tensor with `t`'s shape and dtype and no data (untracked: disposing it does nothing). */
function shapeStandIn(t: tf.Tensor): tf.Tensor {
  const Ctor = tf.Tensor as unknown as new (
    shape: number[],
    dtype: tf.DataType,
    dataId: object,
    id: number,
  ) => tf.Tensor;
  return new Ctor(t.shape, t.dtype, NO_DATA, -1);
}

/** tfjs-core tape.ts `getFilteredNodesXToY` (not exported): the nodes on a path from xs to y. */
function filteredNodes(tape: Any[], xs: Any[], y: Any): Any[] {
  const fromX: Record<number, boolean> = {};
  const nodesFromX: Record<number, boolean> = {};
  for (const x of xs) fromX[x.id] = true;
  for (const node of tape) {
    for (const n in node.inputs) {
      if (fromX[node.inputs[n].id]) {
        for (const o of node.outputs) fromX[o.id] = true;
        nodesFromX[node.id] = true;
        break;
      }
    }
  }
  const leadToY: Record<number, boolean> = { [y.id]: true };
  const nodesToY: Record<number, boolean> = {};
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    for (const o of node.outputs) {
      if (leadToY[o.id]) {
        for (const n in node.inputs) {
          leadToY[node.inputs[n].id] = true;
          nodesToY[node.id] = true;
        }
        break;
      }
    }
  }
  const out: Any[] = [];
  for (const node of tape) {
    if (nodesFromX[node.id] && nodesToY[node.id]) {
      const inputs: Record<string, Any> = {};
      for (const n in node.inputs) if (fromX[node.inputs[n].id]) inputs[n] = node.inputs[n];
      out.push({ ...node, inputs, outputs: node.outputs });
    }
  }
  return out;
}

let installed = false;

/** The TF.js release whose engine internals this copy follows (checked before installing). */
export const LEAN_TAPE_TFJS = "4.22.0";

/**
 * Install the lean tape on TF.js's engine (once; idempotent); returns whether it is installed.
 * Values and gradients are unchanged: the backward pass runs the same gradient functions in the
 * same order; only the moment tensors are freed changes. It follows TF.js 4.22's engine
 * internals, so on any other TF.js release it leaves the engine alone (and returns false): the
 * stock tape then holds more memory, with the same values.
 *
 * @example
 * ```ts
 * import { installLeanTape } from "@hest/hest";
 * installLeanTape(); // true with the pinned TF.js 4.22.0
 * ```
 */
export function installLeanTape(): boolean {
  if (installed) return true;
  if (tf.version.tfjs !== LEAN_TAPE_TFJS) return false;
  installed = true;
  const engine = tf.engine() as Any;

  const getTensorsForGradient = engine.getTensorsForGradient.bind(engine);
  engine.getTensorsForGradient = (kernelName: string, inputs: Any, outputs: Any[]) => {
    const ts: tf.Tensor[] = getTensorsForGradient(kernelName, inputs, outputs);
    return SHAPE_ONLY.has(kernelName) ? ts.map(shapeStandIn) : ts;
  };
  engine.saveTensorsForBackwardMode = function (tensors: tf.Tensor[]) {
    return tensors.map((t) => t.dataId === NO_DATA ? t : this.keep(this.clone(t)));
  };

  engine.gradients = function (f: Any, xs: Any[], dy: Any, allowNoGradients = false) {
    tf.util.assert(xs.length > 0, () => "gradients() received an empty list of xs.");
    if (dy != null && dy.dtype !== "float32") {
      throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
    }
    const y = this.scopedRun(
      () => this.startTape(),
      () => this.endTape(),
      () => this.tidy("forward", f),
    );
    tf.util.assert(
      y instanceof tf.Tensor,
      () => "The result y returned by f() must be a tensor.",
    );
    const tape = filteredNodes(this.state.activeTape, xs, y);
    if (!allowNoGradients && tape.length === 0 && xs.length > 0) {
      throw new Error(
        "Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed " +
          "encloses all operations that lead from x to y.",
      );
    }
    // Freeing early is safe only for a first-order computation: a higher-order one differentiates
    // the gradient functions themselves and needs the whole tape.
    const eager = this.state.gradientDepth === 0;
    return this.tidy("backward", () => {
      const grads: Record<number, Any> = {};
      grads[y.id] = dy == null ? tf.ones(y.shape) : dy;
      const keep = new Set<number>(xs.map((x: Any) => x.id));
      if (dy != null) keep.add(y.id);
      for (let i = tape.length - 1; i >= 0; i--) {
        const node = tape[i];
        const dys = node.outputs.map((o: Any) => grads[o.id] ?? null);
        if (node.gradient == null) {
          throw new Error(
            `Cannot compute gradient: gradient function not found for ${node.kernelName}.`,
          );
        }
        // The node's gradient and every input's gradient in one tidy: temporaries a custom
        // gradient function makes before returning its gradients go with it (TF.js evaluates
        // each input's gradient in a tidy of its own, but not the gradient function itself, so
        // such temporaries would stay to the end of the backward pass).
        const names = Object.keys(node.inputs);
        const dxs: Any[] = this.tidy(() => {
          const inputGradients = node.gradient(dys);
          return names.map((name) => {
            if (!(name in inputGradients)) {
              throw new Error(
                `Cannot backprop through input ${name}. Available gradients found: ${
                  Object.keys(inputGradients)
                }.`,
              );
            }
            return inputGradients[name]();
          });
        });
        const made: Any[] = [];
        for (let j = 0; j < names.length; j++) {
          const name = names[j];
          const dx = dxs[j];
          if (dx.dtype !== "float32") {
            throw new Error(
              `Error in gradient for op ${node.kernelName}. The gradient of input ${name} must ` +
                `have 'float32' dtype, but has '${dx.dtype}'`,
            );
          }
          const x = node.inputs[name];
          if (!tf.util.arraysEqual(dx.shape, x.shape)) {
            throw new Error(
              `Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has ` +
                `shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`,
            );
          }
          if (grads[x.id] == null) {
            grads[x.id] = dx;
          } else {
            const cur = grads[x.id];
            grads[x.id] = tf.add(cur, dx);
            cur.dispose();
          }
          made.push(grads[x.id]);
        }
        if (!eager) continue;
        // Nothing reads this node's output gradients or saved tensors again: every consumer of
        // its outputs comes later on the tape and has been processed. Keep any that a gradient
        // function passed through as an input's gradient.
        for (const o of node.outputs) {
          const g = grads[o.id];
          if (g === undefined || keep.has(o.id)) continue;
          delete grads[o.id];
          if (!made.includes(g) && !Object.values(grads).includes(g)) g.dispose();
        }
        for (const t of node.saved ?? []) if (!made.includes(t)) t.dispose();
      }
      const out = xs.map((x: Any) => grads[x.id]);
      if (this.state.gradientDepth === 0) {
        for (const node of this.state.activeTape) for (const t of node.saved) t.dispose();
        this.state.activeTape = null;
      }
      return { value: y, grads: out };
    });
  };
  return true;
}
