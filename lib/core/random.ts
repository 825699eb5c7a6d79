/**
 * Explicit, splittable, seeded random keys in the style of JAX.
 *
 * A {@linkcode Key} is two unsigned 32-bit words. Keys are never mutated: {@linkcode split} and
 * {@linkcode foldIn} derive new keys with the Threefry-2x32 (20 rounds) counter-based block
 * cipher (Salmon et al. 2011, the generator JAX uses), and every sampler draws from a key alone.
 * The same key therefore gives the same numbers on every backend and in every order of calls.
 *
 * Samplers run in JavaScript (float64 arithmetic) and return typed arrays; {@linkcode tfSeed}
 * turns a key into the integer seed TF.js ops such as `tf.randomUniform` and `tf.dropout`
 * accept (those generate their numbers in JavaScript too, so they are backend-independent).
 *
 * @module
 */

/** A random key: two unsigned 32-bit integers. Create with {@linkcode key}. */
export type Key = readonly [number, number];

const ROT = [13, 15, 26, 6, 17, 29, 16, 24];

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/** Threefry-2x32 with 20 rounds: encrypts the counter (c0, c1) under the key (k0, k1). */
function threefry(k0: number, k1: number, c0: number, c1: number, out: Uint32Array): void {
  const k2 = (k0 ^ k1 ^ 0x1bd11bda) >>> 0;
  const ks = [k0 >>> 0, k1 >>> 0, k2];
  let x0 = (c0 + ks[0]) >>> 0;
  let x1 = (c1 + ks[1]) >>> 0;
  for (let block = 0; block < 5; block++) {
    for (let r = 0; r < 4; r++) {
      x0 = (x0 + x1) >>> 0;
      x1 = rotl(x1, ROT[(block % 2) * 4 + r]) ^ x0;
    }
    const s = block + 1;
    x0 = (x0 + ks[s % 3]) >>> 0;
    x1 = (x1 + ks[(s + 1) % 3] + s) >>> 0;
  }
  out[0] = x0;
  out[1] = x1;
}

const scratch = new Uint32Array(2);

/**
 * The raw Threefry-2x32-20 block function: encrypts counter words (c0, c1) under key words
 * (k0, k1). Exposed for verification against the Random123 / JAX known-answer vectors.
 *
 * @example
 * ```ts
 * import { threefry2x32 } from "@hest/hest";
 * threefry2x32([0, 0], [0, 0]); // [0x6b200159, 0x99ba4efe]
 * ```
 */
export function threefry2x32(k: Key, c: readonly [number, number]): [number, number] {
  const out = new Uint32Array(2);
  threefry(k[0], k[1], c[0], c[1], out);
  return [out[0], out[1]];
}

/**
 * Make a key from an integer seed (any safe integer; negative seeds are allowed).
 *
 * @example
 * ```ts
 * import { key } from "@hest/hest";
 * const k = key(42);
 * ```
 */
export function key(seed: number): Key {
  if (!Number.isSafeInteger(seed)) {
    throw new (typeof seed === "number" ? RangeError : TypeError)(
      `random key seed must be a safe integer, found ${seed}`,
    );
  }
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  const lo = (seed >>> 0) >>> 0;
  threefry(0x9e3779b9, 0x7f4a7c15, lo, hi, scratch);
  return [scratch[0], scratch[1]];
}

function checkKey(k: Key): void {
  if (!Array.isArray(k) || k.length !== 2 || !k.every((w) => Number.isInteger(w) && w >= 0)) {
    throw new TypeError(`expected a random key [uint32, uint32], found ${JSON.stringify(k)}`);
  }
}

/**
 * Derive `n` independent keys from `k` (default 2). The parent key should not be used again.
 *
 * @example
 * ```ts
 * import { key, split } from "@hest/hest";
 * const [kInit, kData] = split(key(0));
 * ```
 */
export function split(k: Key, n = 2): Key[] {
  checkKey(k);
  const out: Key[] = [];
  for (let i = 0; i < n; i++) {
    threefry(k[0], k[1], i, 0x5eed, scratch);
    out.push([scratch[0], scratch[1]]);
  }
  return out;
}

/**
 * Derive a key from `k` and an integer (a step number, a layer index, …).
 *
 * @example
 * ```ts
 * import { foldIn, key } from "@hest/hest";
 * const stepKey = foldIn(key(0), 17);
 * ```
 */
export function foldIn(k: Key, data: number): Key {
  checkKey(k);
  threefry(k[0], k[1], data >>> 0, 0xf01d, scratch);
  return [scratch[0], scratch[1]];
}

/**
 * An integer seed in [0, 2^31) for TF.js ops that take a `seed` (`tf.randomUniform`,
 * `tf.dropout`, …).
 *
 * @example
 * ```ts
 * import { key, tf, tfSeed } from "@hest/hest";
 * const u = tf.randomUniform([3], 0, 1, "float32", tfSeed(key(1)));
 * ```
 */
export function tfSeed(k: Key): number {
  checkKey(k);
  threefry(k[0], k[1], 0x7f, 0x5eed5eed, scratch);
  return scratch[0] >>> 1;
}

/**
 * A sequential generator of uniform doubles in [0, 1) driven by one key (Threefry in counter
 * mode, 53 bits per draw). Samplers that need a variable number of draws use it.
 *
 * @example
 * ```ts
 * import { key, stream } from "@hest/hest";
 * const s = stream(key(3));
 * const u = s.next();
 * ```
 */
export function stream(k: Key): RandomStream {
  checkKey(k);
  return new RandomStream(k);
}

/** A sequential uniform generator returned by {@linkcode stream}. */
export class RandomStream {
  #k0: number;
  #k1: number;
  #counter = 0;
  #buf = new Uint32Array(2);
  /** Build from a key; prefer {@linkcode stream}. */
  constructor(k: Key) {
    this.#k0 = k[0];
    this.#k1 = k[1];
  }
  /** Next uniform double in [0, 1). */
  next(): number {
    const c = this.#counter++;
    threefry(this.#k0, this.#k1, c >>> 0, Math.floor(c / 2 ** 32) >>> 0, this.#buf);
    // 53 random bits: 27 from the first word, 26 from the second.
    return ((this.#buf[0] >>> 5) * 67108864 + (this.#buf[1] >>> 6)) / 9007199254740992;
  }
  /** Standard normal draw (Box–Muller, one value per call). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Poisson draw with mean `lam` ≥ 0 (Knuth below 10, Hörmann's PTRS from 10 on). */
  poisson(lam: number): number {
    if (!(lam >= 0) || !Number.isFinite(lam)) {
      throw new RangeError(`poisson mean must be finite and >= 0, found ${lam}`);
    }
    if (lam === 0) return 0;
    if (lam < 10) {
      const l = Math.exp(-lam);
      let k = 0;
      let p = this.next();
      while (p > l) {
        k++;
        p *= this.next();
      }
      return k;
    }
    // PTRS: transformed rejection with squeeze (Hörmann 1993).
    const slam = Math.sqrt(lam);
    const loglam = Math.log(lam);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const invalpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = this.next() - 0.5;
      const v = this.next();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor((2 * a / us + b) * u + lam + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (
        Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <=
          -lam + k * loglam - logFactorial(k)
      ) {
        return k;
      }
    }
  }
}

/** ln(k!) for integer k ≥ 0, exact table below 256 and Stirling's series above. */
export function logFactorial(k: number): number {
  if (k < LOG_FACT.length) return LOG_FACT[k];
  const x = k + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) -
    1 / (360 * x ** 3) + 1 / (1260 * x ** 5);
}
const LOG_FACT: number[] = (() => {
  const t = [0];
  for (let i = 1; i < 256; i++) t.push(t[i - 1] + Math.log(i));
  return t;
})();

/**
 * `n` uniform doubles in [0, 1) from `k`.
 *
 * @example
 * ```ts
 * import { key, uniform } from "@hest/hest";
 * const u = uniform(key(0), 4);
 * ```
 */
export function uniform(k: Key, n: number): Float64Array {
  const s = stream(k);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = s.next();
  return out;
}

/**
 * `n` standard normal doubles from `k`.
 *
 * @example
 * ```ts
 * import { key, normal } from "@hest/hest";
 * const z = normal(key(0), 4);
 * ```
 */
export function normal(k: Key, n: number): Float64Array {
  const s = stream(k);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = s.normal();
  return out;
}

/**
 * A uniformly random permutation of 0..n-1 (Fisher–Yates) from `k`.
 *
 * @example
 * ```ts
 * import { key, permutation } from "@hest/hest";
 * const order = permutation(key(0), 10);
 * ```
 */
export function permutation(k: Key, n: number): Int32Array {
  const s = stream(k);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(s.next() * (i + 1));
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

/**
 * Uniform integers in [lo, hi) from `k`.
 *
 * @example
 * ```ts
 * import { key, randint } from "@hest/hest";
 * const dice = randint(key(0), 5, { lo: 1, hi: 7 });
 * ```
 */
export function randint(k: Key, n: number, opts: RandintOptions): Int32Array {
  const { lo, hi } = opts;
  if (!(hi > lo)) throw new RangeError(`randint expects hi > lo, found lo=${lo} hi=${hi}`);
  const s = stream(k);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + Math.floor(s.next() * (hi - lo));
  return out;
}

/** Options of {@linkcode randint}: the half-open range [lo, hi). */
export interface RandintOptions {
  /** Smallest value (inclusive). */
  lo: number;
  /** Upper bound (exclusive). */
  hi: number;
}
