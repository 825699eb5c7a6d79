/**
 * The standard (NDT-style) masked-modeling transformer: the hybrid model
 * (lib/model/hybrid.ts) in standard mode with every enhancement off.
 *
 * Tokens are time bins. The input at a bin is the vector of **held-in** counts; held-out
 * neurons are never input. The model appends `forwardBins` empty tokens after the trial window
 * and reads out log-rates of **all** neurons (held-in and held-out, in dataset order) at every
 * bin, including the forward window:
 *
 * ```
 * counts [B, L, Nin] → log1p → Linear(Nin→D) → + position → dropout
 *   → nLayers × pre-norm block { x + Attn(LN(x)) ; x + FF(LN(x)) }   (FF: Linear→GELU→Linear)
 *   → LN → dropout → Linear(D→N) = log-rates [B, L+F, N]
 * ```
 *
 * Its parameters are the standard-mode leaves of the hybrid tree (`embed`, `pos`,
 * `blocks.i.{ln1, attn.qkv, attn.o, ln2, ff1, ff2}`, `lnFinal`, `readout`), the same names the
 * earlier stand-alone implementation used.
 *
 * @module
 */
import { TRANSFORMER_CONFIG_KEYS, type TransformerConfig } from "./config.ts";
import { hybridTransformer, type Model } from "./hybrid.ts";

/**
 * Build the standard masked-modeling transformer.
 *
 * @example
 * ```ts
 * import { key, tf, transformer } from "@hest/hest";
 * const model = transformer({ nInputs: 3, nOutputs: 4, bins: 10, forwardBins: 2, dModel: 8 });
 * const params = model.init(key(0));
 * const logRates = model.apply(params, { input: tf.zeros([1, 10, 3]) }, { training: false });
 * console.log(logRates.shape); // [1, 12, 4]
 * ```
 */
export function transformer(config: TransformerConfig): Model {
  const hybridKeys = Object.keys(config).filter((k) => !TRANSFORMER_CONFIG_KEYS.includes(k));
  if (hybridKeys.length > 0) {
    throw new TypeError(
      `unknown model config key "${hybridKeys[0]}" for the standard transformer; hybrid ` +
        "switches need the hybrid model (hybridTransformer)",
    );
  }
  return hybridTransformer({ ...config, modes: ["standard"], maskToken: false });
}
