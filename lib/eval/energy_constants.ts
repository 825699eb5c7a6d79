/**
 * The energy of one operation of each kind (the table documented in `lib/eval/energy.ts`):
 * operation kinds, their make-up in FP adds and multiplies, the 45 nm FP32 figures of Horowitz
 * (ISSCC 2014) and validated overrides.
 *
 * @module
 */
import { checkKeys, describe } from "../core/validation.ts";
import type { ElementwiseKind } from "../nn/types.ts";

/** An operation kind with an energy per unit: a weight product (`mac`, `ac`) or element-wise. */
export type OpKind = "mac" | "ac" | ElementwiseKind;

/** The coarse kinds of {@linkcode EnergyTotals.opsByKind}: `other` = `gelu` + `add` + `mul`. */
export type EnergyKind = "mac" | "ac" | "norm" | "neuron" | "softmax" | "other";

/** A value per coarse kind (`mac, ac, norm, neuron, softmax, other`). */
export type OpsByKind = Record<EnergyKind, number>;

/** A value per operation kind (`mac, ac, norm, neuron, softmax, gelu, add, mul`). */
export type OpsByOp = Record<OpKind, number>;

/** FP32 multiplies and adds making up one operation of a kind. */
export interface OpComposition {
  /** Multiplies (a divide counts as one). */
  mult: number;
  /** Adds (a compare or subtract counts as one). */
  add: number;
}

/** Every operation kind, in report order. */
/** Every operation kind, in report order. */
export const OP_KINDS: readonly OpKind[] = [
  "mac",
  "ac",
  "norm",
  "neuron",
  "softmax",
  "gelu",
  "add",
  "mul",
];
/** The element-wise kinds. */
export const ELEMENTWISE_KINDS: readonly ElementwiseKind[] = [
  "norm",
  "neuron",
  "softmax",
  "gelu",
  "add",
  "mul",
];

/**
 * The multiplies and adds of one operation of each kind (derivations in the module docs: `exp` =
 * 6 mult + 7 add, a divide = 1 mult, a compare = 1 add, per-row work amortised).
 *
 * @example
 * ```ts
 * import { OP_COMPOSITION } from "@hest/hest";
 * OP_COMPOSITION.softmax; // { mult: 7, add: 10 }
 * ```
 */
export const OP_COMPOSITION: Readonly<Record<OpKind, Readonly<OpComposition>>> = Object.freeze({
  mac: Object.freeze({ mult: 1, add: 1 }),
  ac: Object.freeze({ mult: 0, add: 1 }),
  norm: Object.freeze({ mult: 3, add: 4 }),
  neuron: Object.freeze({ mult: 2, add: 3 }),
  softmax: Object.freeze({ mult: 7, add: 10 }),
  gelu: Object.freeze({ mult: 13, add: 11 }),
  add: Object.freeze({ mult: 0, add: 1 }),
  mul: Object.freeze({ mult: 1, add: 0 }),
});

/** Costs of the two primitives, pJ, for {@linkcode energyPerOp}. */
export interface PrimitiveEnergies {
  /** One add (default 0.9 pJ: FP32, 45 nm, Horowitz ISSCC 2014). */
  addPj?: number;
  /** One multiply (default 3.7 pJ: FP32, 45 nm, Horowitz ISSCC 2014). */
  multPj?: number;
}

/** Energy of one operation of each kind, pJ (a full table; see {@linkcode EnergyConstants}). */
export interface OpEnergiesPj {
  /** One multiply-accumulate. */
  macPj: number;
  /** One accumulate. */
  acPj: number;
  /** One normalised element. */
  normPj: number;
  /** One neuron update for one timestep. */
  neuronPj: number;
  /** One softmax element. */
  softmaxPj: number;
  /** One GELU element. */
  geluPj: number;
  /** One real-valued add. */
  addPj: number;
  /** One multiply. */
  mulPj: number;
}

/** Overrides of the energy per operation, pJ; each defaults to {@linkcode ENERGY_PER_OP_PJ}. */
export type EnergyConstants = Partial<OpEnergiesPj>;

/** The option keys of {@linkcode EnergyConstants} (`macPj`, `acPj`, …). */
export const CONSTANT_KEYS = OP_KINDS.map((k) => `${k}Pj`) as readonly (keyof OpEnergiesPj)[];

function checkEnergy(what: string, name: string, v: unknown): number {
  if (typeof v !== "number") {
    throw new TypeError(`${what} "${name}" must be a number of pJ, found ${describe(v)}`);
  }
  if (!Number.isFinite(v) || v < 0) {
    throw new RangeError(`${what} "${name}" must be a finite number >= 0 pJ, found ${v}`);
  }
  return v;
}

/**
 * The energy of one operation of each kind, pJ, from the cost of an FP add and multiply and the
 * make-up of each kind ({@linkcode OP_COMPOSITION}). Without options: the 45 nm FP32 figures of
 * Horowitz (ISSCC 2014), i.e. {@linkcode ENERGY_PER_OP_PJ}.
 *
 * @example
 * ```ts
 * import { energyPerOp } from "@hest/hest";
 * // Horowitz's 45 nm INT8 figures: add 0.03 pJ, multiply 0.2 pJ
 * const int8 = energyPerOp({ addPj: 0.03, multPj: 0.2 });
 * int8.mac; // 0.23
 * ```
 */
export function energyPerOp(primitives: PrimitiveEnergies = {}): OpsByOp {
  checkKeys(primitives, ["addPj", "multPj"], "primitive energy");
  const addPj = checkEnergy("primitive energy", "addPj", primitives.addPj ?? 0.9);
  const multPj = checkEnergy("primitive energy", "multPj", primitives.multPj ?? 3.7);
  const out = {} as OpsByOp;
  for (const k of OP_KINDS) {
    const c = OP_COMPOSITION[k];
    // rounded to 1e-12 pJ so that 3·3.7 + 4·0.9 reads 14.7, not 14.700000000000001
    out[k] = Math.round((c.mult * multPj + c.add * addPj) * 1e12) / 1e12;
  }
  return out;
}

/**
 * Energy of one operation of each kind, pJ, at 45 nm FP32 (Horowitz, ISSCC 2014: add 0.9 pJ,
 * multiply 3.7 pJ): mac 4.6, ac 0.9, norm 14.7, neuron 10.1, softmax 34.9, gelu 58.0, add 0.9,
 * mul 3.7. Derivations in the module docs.
 *
 * @example
 * ```ts
 * import { ENERGY_PER_OP_PJ } from "@hest/hest";
 * ENERGY_PER_OP_PJ.mac; // 4.6
 * ```
 */
export const ENERGY_PER_OP_PJ: Readonly<OpsByOp> = Object.freeze(energyPerOp());

/**
 * Validate energy overrides (unknown keys: `Error`; non-numbers: `TypeError`; negative or
 * non-finite: `RangeError`) and fill in {@linkcode ENERGY_PER_OP_PJ}.
 *
 * @example
 * ```ts
 * import { resolveEnergyConstants } from "@hest/hest";
 * resolveEnergyConstants({ acPj: 0.03 }).macPj; // 4.6
 * ```
 */
export function resolveEnergyConstants(constants: EnergyConstants = {}): OpEnergiesPj {
  checkKeys(constants, CONSTANT_KEYS, "energy constant");
  const out = {} as OpEnergiesPj;
  for (const k of OP_KINDS) {
    const key = `${k}Pj` as keyof OpEnergiesPj;
    out[key] = checkEnergy("energy constant", key, constants[key] ?? ENERGY_PER_OP_PJ[k]);
  }
  return out;
}

/** One counted weight-product site of an {@linkcode EnergyReport}. */
