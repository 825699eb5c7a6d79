// hest WASM SIMD kernels: fused multi-step LIF (forward + BPTT surrogate backward), matrix
// products (dense SIMD, sparse-input and event-driven for binary operands), spike norm, im2col,
// the fused TIM step and the streaming engine's matvec.
//
// Built by kernels/build.ts with Debian clang 14 + lld:
//   clang --target=wasm32 -O3 -msimd128 -ffreestanding -nostdlib -Wl,--import-memory ...
// No libc and no static data: the module imports its memory (env.memory) and exports
// `__stack_pointer`, `__heap_base` and the kernels below. On TF.js's wasm backend it runs inside
// TF.js's own memory (kernels/wasm.ts sets the stack to a block from TF.js's allocator), so a
// kernel reads and writes tensors in place; the caller passes every buffer as a pointer and
// nothing here allocates.
//
// Every floating-point expression of the LIF forward is evaluated in float32 in exactly the
// order of the composite TF.js path in lib/neurons.ts, so the spikes agree bit for bit.
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

typedef unsigned int u32;

// ---------------------------------------------------------------------------------------------
// expf without libc: range reduction to [-ln2/2, ln2/2], degree-6 polynomial (Cephes expf
// coefficients, relative error about 1e-7), scale by 2^n through the exponent bits.

static inline float exp_f32(float x) {
  if (x > 88.0f) x = 88.0f;
  if (x < -87.0f) x = -87.0f;
  float n = __builtin_nearbyintf(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union { float f; int i; } s;
  s.i = ((int)n + 127) << 23;
  return p * s.f;
}

// Surrogate derivative g'(x): kind 0 = sigmoid α·σ(αx)(1 − σ(αx)), kind 1 = atan
// (α/2) / (1 + (π α x / 2)²). Written as lib/surrogates.ts computes it.
static inline float surrogate(float x, int kind, float alpha, float c) {
  if (kind == 0) {
    float sg = 1.0f / (1.0f + exp_f32(-(x * alpha)));
    return (sg * (1.0f - sg)) * alpha;
  }
  float z = x * c; // c = π α / 2
  return (alpha * 0.5f) / (1.0f + z * z);
}

// ---------------------------------------------------------------------------------------------
// Multi-step LIF. x, s, h: [T, n] row-major (time-major); v: [n] scratch holding V[0] on entry
// (the initial membrane) and V[T] on return. The forward stores the spikes only when s is not
// NULL and the membrane H only when h is not NULL (the backward needs H, the forward S).
//   k = fround(1/τ), omk = fround(1 − 1/τ), vr = V_reset (0 for a soft reset),
//   soft = L ≥ 1 for a soft reset whose spikes take the levels 0..L (0 for a hard reset, whose
//   spikes are 0/1), decay = decayInput, leakMode 0: V·(1−k) (used when vr == 0),
//   1: V − (V − vr)·k.

#define LIF_BLOCK 4096

// One LIF timestep of one neuron: charge with input x (H), fire (returned spike), reset (*v).
static inline float lif_step(float x, float *v, float *h, float k, float omk, float vr,
                             float vth, int soft, int decay, int leakMode) {
  float vp = *v;
  float leak = leakMode == 0 ? vp * omk : vp - (vp - vr) * k;
  float hh = leak + (decay ? x * k : x);
  float sp = (hh - vth) >= 0.0f ? 1.0f : 0.0f;
  // level l fires when H reaches l·V_th (multi-level spikes: soft > 1)
  for (int l = 2; l <= soft; l++) sp += (hh - (float)l * vth) >= 0.0f ? 1.0f : 0.0f;
  *v = soft ? hh - sp * vth : hh * (1.0f - sp) + sp * vr;
  *h = hh;
  return sp;
}

// One BPTT step of one neuron: the gradient reaching H[t] from dL/dS[t] (dy) and from the next
// step's membrane (*g, updated to the gradient of V[t−1]); returns dL/dx[t].
static inline float lif_bwd_step(float dy, float hh, float *g, float k, float omk, float vr,
                                 float vth, int soft, int decay, int detachReset,
                                 int detachMembrane, int kind, float alpha, float c) {
  float hd = hh - vth;
  float sp = hd >= 0.0f ? 1.0f : 0.0f;
  float gv = *g;
  float dVdH = soft ? 1.0f : 1.0f - sp;
  float dVdS = detachReset ? 0.0f : (soft ? -vth : vr - hh);
  float gS = dy + gv * dVdS;
  float gSH = gS * surrogate(hd, kind, alpha, c);
  // S = Σ_l Θ(H − l·V_th): one surrogate per level
  for (int l = 2; l <= soft; l++) gSH += gS * surrogate(hh - (float)l * vth, kind, alpha, c);
  float gH = gSH + gv * dVdH;
  *g = detachMembrane ? 0.0f : gH * omk;
  return decay ? gH * k : gH;
}

// The constants of a LIF kernel's neurons, for the row helpers of lif_simd.h.
typedef struct {
  float k, omk, vr, vth;
  int soft, decay, leakMode;
  int detachReset, detachMembrane, kind; // the backward's
  float alpha, c;                        // the surrogate's α, and π·α/2 for atan
} lif_params;

static inline lif_params lif_params_of(float k, float omk, float vr, float vth, int soft,
                                       int decay, int leakMode, int detachReset,
                                       int detachMembrane, int kind, float alpha) {
  lif_params p = {.k = k,
                  .omk = omk,
                  .vr = vr,
                  .vth = vth,
                  .soft = soft,
                  .decay = decay,
                  .leakMode = leakMode,
                  .detachReset = detachReset,
                  .detachMembrane = detachMembrane,
                  .kind = kind,
                  .alpha = alpha,
                  .c = 3.14159265358979f * alpha * 0.5f};
  return p;
}

#include "lif_simd.h" // four lanes of lif_step, lif_bwd_step and surrogate; rows of neurons

EXPORT(lif_forward)
void lif_forward(const float *restrict x, float *restrict s, float *restrict h,
                 float *restrict v, int T, int n, float k, float omk, float vr, float vth,
                 int soft, int decay, int leakMode) {
  const lif_params p = lif_params_of(k, omk, vr, vth, soft, decay, leakMode, 0, 0, 0, 0.0f);
  // Neurons are independent: blocks of LIF_BLOCK columns keep their membranes in cache over T.
  for (int j0 = 0; j0 < n; j0 += LIF_BLOCK) {
    int j1 = j0 + LIF_BLOCK < n ? j0 + LIF_BLOCK : n;
    for (int t = 0; t < T; t++) {
      long at = (long)t * n + j0;
      lif_fwd_row(x + at, v + j0, s ? s + at : 0, h ? h + at : 0, j1 - j0, p);
    }
  }
}

// BPTT backward of sum(dy ⊙ S) given H (saved by the forward). dx: [T, n]; gv: [n] scratch, on
// return dL/dV[0] (the gradient of the initial membrane; 0 with detachMembrane).
EXPORT(lif_backward)
void lif_backward(const float *restrict dy, const float *restrict h, float *restrict dx,
                  float *restrict gv, int T, int n, float k, float omk, float vr, float vth,
                  int soft, int decay, int leakMode, int detachReset, int detachMembrane,
                  int kind, float alpha) {
  // (the leak form does not matter here: both have dV[t]/dV[t−1] = 1 − k)
  const lif_params p = lif_params_of(k, omk, vr, vth, soft, decay, leakMode, detachReset,
                                     detachMembrane, kind, alpha);
  for (int j = 0; j < n; j++) gv[j] = 0.0f;
  for (int j0 = 0; j0 < n; j0 += LIF_BLOCK) {
    int j1 = j0 + LIF_BLOCK < n ? j0 + LIF_BLOCK : n;
    for (int t = T - 1; t >= 0; t--) {
      long at = (long)t * n + j0;
      lif_bwd_row(dy + at, h + at, dx + at, gv + j0, j1 - j0, p);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Matrix products. A matrix is addressed through (pointer, row stride, column stride), so the
// transposes are free; `pack` copies one into a dense row-major buffer with a padded row length.

static void pack(const float *src, int rows, int cols, int rs, int cs, float *dst, int ld) {
  for (int r = 0; r < rows; r++) {
    float *d = dst + (long)r * ld;
    const float *sr = src + (long)r * rs;
    if (cs == 1) {
      for (int c = 0; c < cols; c++) d[c] = sr[c];
    } else {
      for (int c = 0; c < cols; c++) d[c] = sr[(long)c * cs];
    }
    for (int c = cols; c < ld; c++) d[c] = 0.0f;
  }
}

static inline int round_up(int v, int m) { return (v + m - 1) / m * m; }

// Store 8 lanes of a row (plus 8 lanes of a zero-padded bias, unless bias is NULL): straight into
// C when they all fit, else only the first `valid`.
static inline void store8(float *c, v128_t lo, v128_t hi, int valid, const float *bias) {
  if (bias) {
    // + bias after the sum, as a separate pass over C would add it: the same values
    lo = wasm_f32x4_add(lo, wasm_v128_load(bias));
    hi = wasm_f32x4_add(hi, wasm_v128_load(bias + 4));
  }
  if (valid >= 8) {
    wasm_v128_store(c, lo);
    wasm_v128_store(c + 4, hi);
  } else {
    float tmp[8] __attribute__((aligned(16)));
    wasm_v128_store(tmp, lo);
    wasm_v128_store(tmp + 4, hi);
    for (int i = 0; i < valid; i++) c[i] = tmp[i];
  }
}

#include "gemm.h"

// Event-driven C[M, N] (row stride ldc) = L · Bp for L[M, K] addressed by strides: for every
// row, the nonzeros of L are gathered (and with val their values) and only their rows of
// Bp[K, Np] accumulated, in ascending k.
// - val NULL: L holds only 0 and 1 (spikes), the rows are summed without multiplies; returns the
//   number of entries that are neither 0 nor 1 (counted as 1).
// - val given (K floats of scratch): a real L, each row of Bp times its value, with the same
//   float32 products and sums as gemm_dense. A skipped term x·b with x = 0 is ±0 and
//   c + (±0) = c, so the result equals gemm_dense's bit for bit (for finite Bp) while the work
//   scales with the nonzeros: event-driven for the sums of spikes that SEW ADD residual streams
//   carry. Returns 0.
static inline v128_t event_term(const float *br, const float *val, int e) {
  v128_t b = wasm_v128_load(br);
  return val ? wasm_f32x4_mul(wasm_f32x4_splat(val[e]), b) : b;
}

// Gathers the nonzeros of a row of K entries (stride lcs): off[e] = k·stride for each, val[e]
// its value when val is not NULL; *bad counts those that are not 1. Returns how many there are.
// Runs of four zeros are skipped with one vector compare when the row is contiguous.
static inline int gather_nonzeros(const float *row, int lcs, int K, int stride, int *restrict off,
                                  float *restrict val, int *bad) {
  int nz = 0, k = 0;
  if (lcs == 1) {
    for (; k + 4 <= K; k += 4) {
      if (!wasm_v128_any_true(wasm_f32x4_ne(wasm_v128_load(row + k), wasm_f32x4_splat(0)))) {
        continue;
      }
      for (int q = k; q < k + 4; q++) {
        float a = row[q];
        if (a == 0.0f) continue;
        if (val) val[nz] = a;
        *bad += a != 1.0f;
        off[nz++] = q * stride;
      }
    }
  }
  for (; k < K; k++) {
    float a = row[(long)k * lcs];
    if (a == 0.0f) continue;
    if (val) val[nz] = a;
    *bad += a != 1.0f;
    off[nz++] = k * stride;
  }
  return nz;
}

// s[q] += Σ_e v_e · base[off[e] + 4q … + 4q + 3] for q < nv, over e < n in ascending order, with
// v_e = val[e], or 1 (no multiply) when val is NULL: the inner loop of every event-driven kernel.
static inline void sum_rows(v128_t *s, int nv, const float *base, const int *off,
                            const float *val, int n) {
  for (int e = 0; e < n; e++) {
    const float *r = base + off[e];
    for (int q = 0; q < nv; q++) s[q] = wasm_f32x4_add(s[q], event_term(r + 4 * q, val, e));
  }
}

static int gemm_events_left(const float *L, int lrs, int lcs, const float *restrict Bp,
                            float *restrict C, int M, int N, int K, int Np, int ldc,
                            int *restrict idx, float *restrict val, const float *bias) {
  int bad = 0, real = 0;
  for (int i = 0; i < M; i++) {
    int nz = gather_nonzeros(L + (long)i * lrs, lcs, K, Np, idx, val, val ? &real : &bad);
    float *c = C + (long)i * ldc;
    int j = 0;
    for (; j + 16 <= Np; j += 16) {
      v128_t s[4] = {wasm_f32x4_splat(0), wasm_f32x4_splat(0), wasm_f32x4_splat(0),
                     wasm_f32x4_splat(0)};
      sum_rows(s, 4, Bp + j, idx, val, nz);
      store8(c + j, s[0], s[1], N - j, bias ? bias + j : 0);
      store8(c + j + 8, s[2], s[3], N - j - 8, bias ? bias + j + 8 : 0);
    }
    for (; j < Np; j += 8) {
      v128_t s[2] = {wasm_f32x4_splat(0), wasm_f32x4_splat(0)};
      sum_rows(s, 2, Bp + j, idx, val, nz);
      store8(c + j, s[0], s[1], N - j, bias ? bias + j : 0);
    }
  }
  return bad;
}

// Nonzero entries of the [rows, cols] matrix at p with strides (rs, cs).
static long count_nonzero(const float *p, int rows, int cols, int rs, int cs) {
  long nz = 0;
  for (int r = 0; r < rows; r++) {
    const float *row = p + (long)r * rs;
    if (cs == 1) {
      for (int c = 0; c < cols; c++) nz += row[c] != 0.0f;
    } else {
      for (int c = 0; c < cols; c++) nz += row[(long)c * cs] != 0.0f;
    }
  }
  return nz;
}

// A dense product takes the sparse path when at most this share of the left operand is nonzero
// (measured on the reference widths: the sparse kernel breaks even near a density of 0.6).
#define SPARSE_DENSITY 0.5

// Rows per chunk of the event-driven weight gradient (gemm_tn: that chunk of D stays in cache).
#define TN_CHUNK 256

// C = op(A) · op(B) (+ bias, zero-padded to round_up(N, 8), or NULL) for one batch element;
// strides of op(A)[m, k] (ars, acs) and op(B)[k, n] (brs, bcs). See bmm for the modes.
static int bmm1(const float *a, const float *bb, float *c, int M, int N, int K, int ars, int acs,
                int brs, int bcs, int mode, float *scratch, const float *bias) {
  if (mode == 0) {
    if ((double)count_nonzero(a, M, K, ars, acs) <= SPARSE_DENSITY * (double)M * K) {
      int Np = round_up(N, 8);
      float *Bp = scratch;
      int *idx = (int *)(scratch + (long)K * Np);
      pack(bb, K, N, brs, bcs, Bp, Np);
      gemm_events_left(a, ars, acs, Bp, c, M, N, K, Np, N, idx, (float *)(idx + K), bias);
      return 0;
    }
    gemm_packed(a, ars, acs, bb, brs, bcs, c, N, M, N, K, bias, scratch);
    return 0;
  }
  if (mode == 1) {
    int Np = round_up(N, 8);
    float *Bp = scratch;
    int *idx = (int *)(scratch + (long)K * Np);
    pack(bb, K, N, brs, bcs, Bp, Np);
    return gemm_events_left(a, ars, acs, Bp, c, M, N, K, Np, N, idx, 0, bias);
  }
  // Cᵀ[N, M] = op(B)ᵀ[N, K] · op(A)ᵀ[K, M]. op(B)ᵀ[n, k] = op(B)[k, n]: strides (bcs, brs).
  int Mp = round_up(M, 8);
  float *Rp = scratch;                      // op(A)ᵀ packed [K, Mp]
  float *Ct = scratch + (long)K * Mp;       // [N, Mp]
  int *idx = (int *)(Ct + (long)N * Mp);
  pack(a, K, M, acs, ars, Rp, Mp);
  int bad = gemm_events_left(bb, bcs, brs, Rp, Ct, N, M, K, Mp, Mp, idx, 0, 0);
  for (int m = 0; m < M; m++) {
    float *cr = c + (long)m * N;
    for (int n = 0; n < N; n++) cr[n] = bias ? Ct[(long)n * Mp + m] + bias[n] : Ct[(long)n * Mp + m];
  }
  return bad;
}

// Batched C[b] = op(A[b]) · op(B[b]) for b < batch, op(X) = X or Xᵀ.
//   op(A): [M, K], stored [M, K] or (transA) [K, M]; op(B): [K, N], stored [K, N] or (transB)
//   [N, K]; C: [M, N]. mode 0: dense (sparse-left, the same values, when at most
//   SPARSE_DENSITY of op(A) is nonzero); 1: op(A) is binary (event-driven over its ones);
//   2: op(B) is binary (computed as Cᵀ = op(B)ᵀ · op(A)ᵀ, event-driven, then transposed).
//   scratch: at least bmm_scratch_floats(M, N, K) floats, 16-byte aligned.
// Returns the number of entries of the binary operand that were neither 0 nor 1.
EXPORT(bmm)
int bmm(const float *A, const float *B, float *C, int batch, int M, int N, int K, int transA,
        int transB, int mode, float *scratch) {
  int bad = 0;
  long sa = (long)M * K, sb = (long)K * N, sc = (long)M * N;
  int ars = transA ? 1 : K, acs = transA ? M : 1;
  int brs = transB ? 1 : N, bcs = transB ? K : 1;
  for (int b = 0; b < batch; b++) {
    bad += bmm1(A + b * sa, B + b * sb, C + b * sc, M, N, K, ars, acs, brs, bcs, mode, scratch, 0);
  }
  return bad;
}

// Dense layer Y [M, N] = X [M, K] · W [K, N] + bias [N], mode 0 or 1 as bmm's; the bias is added
// as each output block is stored (the same values as adding it in a second pass). scratch:
// linear_scratch_floats(M, N, K, mode) floats. Returns bmm's count of non-binary entries.
EXPORT(linear_forward)
int linear_forward(const float *X, const float *W, const float *bias, float *Y, int M, int N,
                   int K, int mode, float *scratch) {
  int Np = round_up(N, 8);
  float *bp = scratch;
  for (int n = 0; n < Np; n++) bp[n] = n < N ? bias[n] : 0.0f;
  return bmm1(X, W, Y, M, N, K, K, 1, N, 1, mode, scratch + Np, bp);
}

// Floats of scratch `linear_forward` needs.
EXPORT(linear_scratch_floats)
int linear_scratch_floats(int M, int N, int K, int mode);

// Floats of scratch `bmm` needs for one batch element of the given mode.
EXPORT(bmm_scratch_floats)
int bmm_scratch_floats(int M, int N, int K, int mode) {
  if (mode == 0) {
    int sparse = K * round_up(N, 8) + 2 * K + 16;
    int dense = gemm_scratch_floats(M, N, K);
    return sparse > dense ? sparse : dense;
  }
  if (mode == 1) return K * round_up(N, 8) + K + 16;
  return K * round_up(M, 8) + N * round_up(M, 8) + K + 16;
}

int linear_scratch_floats(int M, int N, int K, int mode) {
  return round_up(N, 8) + bmm_scratch_floats(M, N, K, mode);
}

// Words of scratch `gemm_tn` needs for X [R, I] and D [R, J].
EXPORT(gemm_tn_scratch_floats)
int gemm_tn_scratch_floats(int R, int I, int J) {
  int events = 2 * I + 1 + 2 * TN_CHUNK * I + 4;
  int dense = gemm_scratch_floats(I, J, R);
  return events > dense ? events : dense;
}

// ---------------------------------------------------------------------------------------------
// Spike norm (lib/spike_norm.ts): x [T, B, L, C] normalised per (b, c) over the T·L positions,
//   μ = mean, σ² = mean((x − μ)²), r = 1/sqrt(σ² + eps), y = ((x − μ)·r)·g[c] + bias[c],
// evaluated in that order, as the composite path (tf.moments, then sub, rsqrt, mul, mul, add).

// Sums over n contiguous floats in four lanes (lane k sums the elements ≡ k mod 4, then the
// lanes are added in order, then the tail): a fixed order, the same bits on every engine.
static inline float hsum4(v128_t v) {
  return ((wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
          wasm_f32x4_extract_lane(v, 2)) + wasm_f32x4_extract_lane(v, 3);
}

static float row_sum(const float *x, int C) {
  v128_t s = wasm_f32x4_splat(0.0f);
  int j = 0;
  for (; j + 4 <= C; j += 4) s = wasm_f32x4_add(s, wasm_v128_load(x + j));
  float t = hsum4(s);
  for (; j < C; j++) t += x[j];
  return t;
}

// Σ (x − m)² over n contiguous floats, in four lanes as row_sum.
static float row_sq_dev(const float *x, int n, float m) {
  v128_t s = wasm_f32x4_splat(0.0f), mv = wasm_f32x4_splat(m);
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    v128_t d = wasm_f32x4_sub(wasm_v128_load(x + j), mv);
    s = wasm_f32x4_add(s, wasm_f32x4_mul(d, d));
  }
  float t = hsum4(s);
  for (; j < n; j++) t += (x[j] - m) * (x[j] - m);
  return t;
}

// Σ dy·((x − m)·r) over n contiguous floats, in four lanes as row_sum.
static float row_dot_xhat(const float *dy, const float *x, int n, float m, float r) {
  v128_t s = wasm_f32x4_splat(0.0f), mv = wasm_f32x4_splat(m), rv = wasm_f32x4_splat(r);
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    v128_t xh = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(x + j), mv), rv);
    s = wasm_f32x4_add(s, wasm_f32x4_mul(wasm_v128_load(dy + j), xh));
  }
  float t = hsum4(s);
  for (; j < n; j++) t += dy[j] * ((x[j] - m) * r);
  return t;
}

static void sn_stats(const float *restrict x, int T, int B, int L, int C, long ldt, float eps,
                     float *restrict mean, float *restrict rstd) {
  int BC = B * C;
  float inv = 1.0f / (float)(T * L);
  if (C == 1) {
    // one channel (sampleSpikeNorm sees a trial as one channel): each (t, b) is a contiguous
    // row of L floats, summed in four lanes rather than one element at a time
    for (int b = 0; b < B; b++) {
      float m = 0.0f;
      for (int t = 0; t < T; t++) m += row_sum(x + (long)t * ldt + (long)b * L, L);
      m *= inv;
      float v = 0.0f;
      for (int t = 0; t < T; t++) v += row_sq_dev(x + (long)t * ldt + (long)b * L, L, m);
      mean[b] = m;
      rstd[b] = 1.0f / __builtin_sqrtf(v * inv + eps);
    }
    return;
  }
  for (int i = 0; i < BC; i++) mean[i] = 0.0f, rstd[i] = 0.0f;
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < B; b++) {
      float *m = mean + (long)b * C;
      const float *xr = x + (long)t * ldt + (long)b * L * C;
      for (int l = 0; l < L; l++, xr += C) {
        for (int c = 0; c < C; c++) m[c] += xr[c];
      }
    }
  }
  for (int i = 0; i < BC; i++) mean[i] *= inv;
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < B; b++) {
      const float *m = mean + (long)b * C;
      float *v = rstd + (long)b * C;
      const float *xr = x + (long)t * ldt + (long)b * L * C;
      for (int l = 0; l < L; l++, xr += C) {
        for (int c = 0; c < C; c++) {
          float d = xr[c] - m[c];
          v[c] += d * d;
        }
      }
    }
  }
  for (int i = 0; i < BC; i++) rstd[i] = 1.0f / __builtin_sqrtf(rstd[i] * inv + eps);
}

// Forward: y [T, B, L, C], and each trial's μ and r in mean and rstd (B·C floats each, for the
// backward pass). x and y (and dy, dx below) may be B trials of a larger array: timestep t starts
// ldt floats after t − 1 (B·L·C when they are the whole array).
EXPORT(spike_norm_forward)
void spike_norm_forward(const float *restrict x, const float *restrict g,
                        const float *restrict bias, float *restrict y, int T, int B, int L, int C,
                        int ldt, float eps, float *restrict mean, float *restrict rstd) {
  sn_stats(x, T, B, L, C, ldt, eps, mean, rstd);
  if (C == 1) {
    for (int t = 0; t < T; t++) {
      for (int b = 0; b < B; b++) {
        const float m = mean[b], r = rstd[b], g0 = g[0], b0 = bias[0];
        long off = (long)t * ldt + (long)b * L;
        const float *xr = x + off;
        float *yr = y + off;
        for (int l = 0; l < L; l++) yr[l] = ((xr[l] - m) * r) * g0 + b0;
      }
    }
    return;
  }
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < B; b++) {
      const float *m = mean + (long)b * C, *r = rstd + (long)b * C;
      long off = (long)t * ldt + (long)b * L * C;
      const float *xr = x + off;
      float *yr = y + off;
      for (int l = 0; l < L; l++, xr += C, yr += C) {
        for (int c = 0; c < C; c++) yr[c] = ((xr[c] - m[c]) * r[c]) * g[c] + bias[c];
      }
    }
  }
}

// Backward of sum(dy ⊙ y): with x̂ = (x − μ)·r, n = T·L, and per (b, c) A = Σ dy, S = Σ dy·x̂
// over (t, l): dx = r·g·(dy − A/n − x̂·S/n), dg[c] = Σ_b S, dbias[c] = Σ_b A, from the forward's
// mean and rstd. scratch: 2·B·C floats.
// The spike-norm backward from the moments: per (b, c) sums A, S over (t, l), then dx. dy and dx
// may be the same array (each element is read before it is written).
static void sn_backward_core(const float *restrict x, const float *restrict g, const float *dy,
                             float *dx, float *restrict dg, float *restrict db, int T, int B,
                             int L, int C, long ldt, const float *mean, const float *rstd,
                             float *restrict sa, float *restrict ss) {
  long BC = (long)B * C;
  float inv = 1.0f / (float)(T * L);
  if (C == 1) {
    // one channel: the sums over each contiguous (t, b) row in four lanes, as sn_stats
    dg[0] = 0.0f, db[0] = 0.0f;
    for (int b = 0; b < B; b++) {
      float a = 0.0f, sx = 0.0f;
      for (int t = 0; t < T; t++) {
        long off = (long)t * ldt + (long)b * L;
        a += row_sum(dy + off, L);
        sx += row_dot_xhat(dy + off, x + off, L, mean[b], rstd[b]);
      }
      db[0] += a;
      dg[0] += sx;
      sa[b] = a * inv, ss[b] = sx * inv;
    }
    for (int t = 0; t < T; t++) {
      for (int b = 0; b < B; b++) {
        const float m = mean[b], r = rstd[b], a = sa[b], sx = ss[b], rg = r * g[0];
        long off = (long)t * ldt + (long)b * L;
        const float *xr = x + off, *dr = dy + off;
        float *o = dx + off;
        for (int l = 0; l < L; l++) o[l] = rg * (dr[l] - a - ((xr[l] - m) * r) * sx);
      }
    }
    return;
  }
  for (long i = 0; i < BC; i++) sa[i] = 0.0f, ss[i] = 0.0f;
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < B; b++) {
      const float *m = mean + (long)b * C, *r = rstd + (long)b * C;
      float *a = sa + (long)b * C, *s = ss + (long)b * C;
      long off = (long)t * ldt + (long)b * L * C;
      const float *xr = x + off, *dr = dy + off;
      for (int l = 0; l < L; l++, xr += C, dr += C) {
        for (int c = 0; c < C; c++) {
          float d = dr[c];
          a[c] += d;
          s[c] += d * ((xr[c] - m[c]) * r[c]);
        }
      }
    }
  }
  for (int c = 0; c < C; c++) dg[c] = 0.0f, db[c] = 0.0f;
  for (int b = 0; b < B; b++) {
    for (int c = 0; c < C; c++) {
      db[c] += sa[(long)b * C + c];
      dg[c] += ss[(long)b * C + c];
    }
  }
  // Reuse sa / ss as the per-(b, c) terms A/n and S/n.
  for (long i = 0; i < BC; i++) sa[i] *= inv, ss[i] *= inv;
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < B; b++) {
      const float *m = mean + (long)b * C, *r = rstd + (long)b * C;
      const float *a = sa + (long)b * C, *s = ss + (long)b * C;
      long off = (long)t * ldt + (long)b * L * C;
      const float *xr = x + off, *dr = dy + off;
      float *o = dx + off;
      for (int l = 0; l < L; l++, xr += C, dr += C, o += C) {
        for (int c = 0; c < C; c++) {
          float xh = (xr[c] - m[c]) * r[c];
          o[c] = (r[c] * g[c]) * (dr[c] - a[c] - xh * s[c]);
        }
      }
    }
  }
}

EXPORT(spike_norm_backward)
void spike_norm_backward(const float *restrict x, const float *restrict g,
                         const float *restrict dy, float *restrict dx, float *restrict dg,
                         float *restrict db, int T, int B, int L, int C, int ldt,
                         const float *restrict mean, const float *restrict rstd,
                         float *restrict scratch) {
  sn_backward_core(x, g, dy, dx, dg, db, T, B, L, C, ldt, mean, rstd, scratch,
                   scratch + (long)B * C);
}

#include "norm_lif.h" // the spike norms followed by the LIF; the norm over all channels

// ---------------------------------------------------------------------------------------------
// Linear-layer helper: out[n] = Σ_m dy[m, n].

EXPORT(col_sum)
void col_sum(const float *restrict dy, float *restrict out, int M, int N) {
  for (int n = 0; n < N; n++) out[n] = 0.0f;
  for (int m = 0; m < M; m++, dy += N) {
    for (int n = 0; n < N; n++) out[n] += dy[n];
  }
}

// Event-driven C[I, J] += Xᵀ · D for a sparse or binary X: chunk by chunk of TN_CHUNK rows, the
// nonzeros of X are listed column by column (for each i, the rows r with X[r, i] ≠ 0, ascending),
// then every block of 16 columns of C[i] is summed in registers over that list. Each C[i, j]
// still adds its terms in ascending r, so the sums equal the row-by-row loop's bit for bit.
// scratch: gemm_tn_scratch_floats(R, I, J) words. Returns the non-0/1 entries of a binary X.
static int gemm_tn_events(const float *restrict X, const float *restrict D, float *restrict C,
                          int R, int I, int J, int ldx, int ldd, int binary, float *scratch) {
  int *start = (int *)scratch;     // [I + 1]
  int *pos = start + I + 1;        // [I]
  int *rows = pos + I;             // [TN_CHUNK · I]: offsets r·ldd of the rows of D
  float *vals = (float *)(rows + (long)TN_CHUNK * I);
  int bad = 0;
  for (int r0 = 0; r0 < R; r0 += TN_CHUNK) {
    int r1 = r0 + TN_CHUNK < R ? r0 + TN_CHUNK : R;
    for (int i = 0; i <= I; i++) start[i] = 0;
    for (int r = r0; r < r1; r++) {
      const float *xr = X + (long)r * ldx;
      for (int i = 0; i < I; i++) start[i + 1] += xr[i] != 0.0f;
    }
    for (int i = 0; i < I; i++) start[i + 1] += start[i], pos[i] = start[i];
    for (int r = r0; r < r1; r++) {
      const float *xr = X + (long)r * ldx;
      for (int i = 0; i < I; i++) {
        float a = xr[i];
        if (a == 0.0f) continue;
        bad += binary && a != 1.0f;
        int e = pos[i]++;
        rows[e] = r * ldd;
        vals[e] = a;
      }
    }
    const float *v = binary ? 0 : vals;
    for (int i = 0; i < I; i++) {
      int e0 = start[i], n = start[i + 1] - e0;
      if (n == 0) continue;
      float *c = C + (long)i * J;
      int j = 0;
      for (; j + 16 <= J; j += 16) {
        v128_t s[4];
        for (int q = 0; q < 4; q++) s[q] = wasm_v128_load(c + j + 4 * q);
        sum_rows(s, 4, D + j, rows + e0, v ? v + e0 : 0, n);
        for (int q = 0; q < 4; q++) wasm_v128_store(c + j + 4 * q, s[q]);
      }
      for (; j + 4 <= J; j += 4) {
        v128_t s[1] = {wasm_v128_load(c + j)};
        sum_rows(s, 1, D + j, rows + e0, v ? v + e0 : 0, n);
        wasm_v128_store(c + j, s[0]);
      }
      for (; j < J; j++) {
        float acc = c[j];
        for (int e = e0; e < e0 + n; e++) {
          float d = D[rows[e] + j];
          acc += binary ? d : vals[e] * d;
        }
        c[j] = acc;
      }
    }
  }
  return bad;
}

// Weight gradient of a dense layer: C[I, J] = Xᵀ · D for X [R, I] and D [R, J] (both row-major,
// row strides ldx and ldd), i.e. the sum over rows r of the outer products X[r]ᵀ D[r].
// binary = 1: X holds only 0 and 1 (spikes) and the sums are event-driven without multiplies;
// binary = 0 with at most SPARSE_DENSITY of X nonzero: event-driven with multiplies; otherwise
// the packed GEMM (gemm.h) on Xᵀ by strides. Every path adds each C[i, j]'s terms in ascending
// r: the same values. scratch: gemm_tn_scratch_floats(R, I, J) words. Returns the number of
// entries of a binary X that are neither 0 nor 1. C is overwritten.
EXPORT(gemm_tn)
int gemm_tn(const float *restrict X, const float *restrict D, float *restrict C, int R, int I,
            int J, int ldx, int ldd, int binary, float *scratch) {
  for (long q = 0; q < (long)I * J; q++) C[q] = 0.0f;
  if (binary || (double)count_nonzero(X, R, I, ldx, 1) <= SPARSE_DENSITY * (double)R * I) {
    return gemm_tn_events(X, D, C, R, I, J, ldx, ldd, binary, scratch);
  }
  // C[I, J] = op(A) · D with op(A)[i, r] = X[r·ldx + i] (Xᵀ by strides) and K = R.
  gemm_packed(X, 1, ldx, D, ldd, 1, C, J, I, J, R, 0, scratch);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// 1-D convolution along the bins by im2col: x [S, L, Ci] → col [S·L, k·Ci] with
// col[(s, t), j·Ci + c] = x[s, t − padLeft + j, c] (0 outside 0..L−1), so that
// y = col · w[k·Ci, Co] + b; col2im is its adjoint (sums the columns back into dx).

EXPORT(im2col)
void im2col(const float *restrict x, float *restrict col, int S, int L, int Ci, int k,
            int padLeft) {
  long kc = (long)k * Ci;
  for (int s = 0; s < S; s++) {
    for (int t = 0; t < L; t++) {
      float *o = col + ((long)s * L + t) * kc;
      for (int j = 0; j < k; j++, o += Ci) {
        int src = t - padLeft + j;
        if (src < 0 || src >= L) {
          for (int c = 0; c < Ci; c++) o[c] = 0.0f;
        } else {
          const float *xr = x + ((long)s * L + src) * Ci;
          for (int c = 0; c < Ci; c++) o[c] = xr[c];
        }
      }
    }
  }
}

EXPORT(col2im)
void col2im(const float *restrict col, float *restrict dx, int S, int L, int Ci, int k,
            int padLeft) {
  long kc = (long)k * Ci;
  for (long q = 0; q < (long)S * L * Ci; q++) dx[q] = 0.0f;
  for (int s = 0; s < S; s++) {
    for (int t = 0; t < L; t++) {
      const float *o = col + ((long)s * L + t) * kc;
      for (int j = 0; j < k; j++, o += Ci) {
        int src = t - padLeft + j;
        if (src < 0 || src >= L) continue;
        float *d = dx + ((long)s * L + src) * Ci;
        for (int c = 0; c < Ci; c++) d[c] += o[c];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Matrix-vector products of the streaming engine (kernels/stream_engine.ts): y[r, :] = x[r, :] · W + b
// for r < rows, W row-major [in, out], b optional (0: none). The output is computed in column
// blocks of 16 held in four registers while the loop runs over the row's nonzero inputs, so W's
// rows that matter are read once and y written once. Entries of x equal to 0 are skipped: for
// spikes (about 10 % ones) this is the event-driven accumulation, for real inputs it only skips
// exact zeros.

// The nonzero inputs of the row (offsets of their rows of w, and values) are gathered once per
// row into scratch (`in` ints, then `in` floats) so the column blocks loop over them only: with
// spikes at ~10 % that is a tenth of the work. The module keeps no static data: its memory may be
// TF.js's.
static inline void matvec_row(const float *restrict x, const float *restrict w,
                              const float *restrict b, float *restrict y, int in, int out,
                              int *restrict nz_off, float *restrict nz_val) {
  int ones = 0;
  int nnz = gather_nonzeros(x, 1, in, out, nz_off, nz_val, &ones);
  int j = 0;
  for (; j + 16 <= out; j += 16) {
    v128_t s[4] = {wasm_f32x4_splat(0), wasm_f32x4_splat(0), wasm_f32x4_splat(0),
                   wasm_f32x4_splat(0)};
    sum_rows(s, 4, w + j, nz_off, nz_val, nnz);
    for (int q = 0; q < 4; q++) {
      if (b) s[q] = wasm_f32x4_add(s[q], wasm_v128_load(b + j + 4 * q));
      wasm_v128_store(y + j + 4 * q, s[q]);
    }
  }
  for (; j < out; j++) {
    float acc = 0.0f;
    for (int k = 0; k < nnz; k++) acc += nz_val[k] * w[nz_off[k] + j];
    y[j] = b ? acc + b[j] : acc;
  }
}

// y[r] = x[r] · w (+ b) for rows r < rows; scratch: 2·in words.
EXPORT(matvec)
void matvec(const float *restrict x, const float *restrict w, const float *restrict b,
            float *restrict y, int rows, int in, int out, float *restrict scratch) {
  int *nz_off = (int *)scratch;
  float *nz_val = scratch + in;
  for (int r = 0; r < rows; r++) {
    matvec_row(x + (long)r * in, w, b, y + (long)r * out, in, out, nz_off, nz_val);
  }
}

// ---------------------------------------------------------------------------------------------
// One step t ≥ 1 of TIM's scan (lib/tim.ts), fused: SN_in charges with the convolution output c,
// fires and resets; the mix M = α·S_in + (1 − α)·Q[t]; SN_out charges with M, fires and resets.
// Both neurons are decay-input LIFs with a hard reset to 0 and detached membranes (BrainCog's
// mem_detach, TIM's default), so the step's gradient is local to it. The float32 operations are
// those of the composite path, in its order. out: [3, n] = spikes S_out, then the new V_in and
// V_out. omk = 1 − k and oma = 1 − α as float32.
EXPORT(tim_step_forward)
void tim_step_forward(const float *restrict c, const float *restrict q, const float *restrict vin,
                      const float *restrict vout, float *restrict out, int n, float k, float omk,
                      float thIn, float thOut, float alpha, float oma) {
  float *s = out, *vi = out + n, *vo = out + 2 * (long)n;
  for (int j = 0; j < n; j++) {
    float hIn = vin[j] * omk + c[j] * k;
    float sIn = (hIn - thIn) >= 0.0f ? 1.0f : 0.0f;
    vi[j] = hIn * (1.0f - sIn);
    float m = sIn * alpha + q[j] * oma;
    float hOut = vout[j] * omk + m * k;
    float sOut = (hOut - thOut) >= 0.0f ? 1.0f : 0.0f;
    vo[j] = hOut * (1.0f - sOut);
    s[j] = sOut;
  }
}

// Its surrogate backward, given dS_out: dc = ((((dS·σ'(H_out − θ_out))·k)·α)·σ'(H_in − θ_in))·k and
// dQ = ((dS·σ'(H_out − θ_out))·k)·(1 − α); the membranes get no gradient (detached).
EXPORT(tim_step_backward)
void tim_step_backward(const float *restrict c, const float *restrict q, const float *restrict vin,
                       const float *restrict vout, const float *restrict ds, float *restrict dc,
                       float *restrict dq, int n, float k, float omk, float thIn, float thOut,
                       float alpha, float oma, int kind, float salpha) {
  const float sc = 3.14159265358979f * salpha * 0.5f;
  for (int j = 0; j < n; j++) {
    float hIn = vin[j] * omk + c[j] * k;
    float sIn = (hIn - thIn) >= 0.0f ? 1.0f : 0.0f;
    float m = sIn * alpha + q[j] * oma;
    float hOut = vout[j] * omk + m * k;
    float dm = (ds[j] * surrogate(hOut - thOut, kind, salpha, sc)) * k;
    dq[j] = dm * oma;
    dc[j] = ((dm * alpha) * surrogate(hIn - thIn, kind, salpha, sc)) * k;
  }
}

// ---------------------------------------------------------------------------------------------
// Exact (erf) GELU, y = 0.5·x·(1 + erf(x/√2)), and its gradient dx = dy·(Φ(x) + x·φ(x)) with
// Φ(x) = 0.5·(1 + erf(x/√2)) and φ(x) = exp(−x²/2)/√(2π). erf is the rational approximation
// of Eigen / XLA (`generic_fast_erf_float`: odd degree-13 numerator over even degree-8
// denominator on [−4, 4], ±1 beyond; absolute error below 5e-7 in float32), in SIMD. TF.js's wasm
// Erf is a scalar call per element, about 10× slower.

// Four lanes at a time; a tail of fewer than four goes through a zero-padded vector, so every
// element gets the same operations wherever it sits. The polynomials' multiply-adds are
// GEMM_MADD: separate in the exact build, fused (relaxed SIMD) in the fast one.
static inline v128_t erf_f32x4(v128_t x) {
  // pmin / pmax: one instruction each on x64 (min / max carry NaN and ±0 rules that cost more);
  // a NaN input stays NaN through the polynomial either way
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, wasm_f32x4_splat(-4.0f)), wasm_f32x4_splat(4.0f));
  v128_t x2 = wasm_f32x4_mul(x, x);
#define POLY(acc, c) acc = GEMM_MADD(acc, x2, wasm_f32x4_splat(c))
  v128_t p = wasm_f32x4_splat(-2.72614225801306e-10f);
  POLY(p, 2.77068142495902e-08f);
  POLY(p, -2.10102402082508e-06f);
  POLY(p, -5.69250639462346e-05f);
  POLY(p, -7.34990630326855e-04f);
  POLY(p, -2.95459980854025e-03f);
  POLY(p, -1.60960333262415e-02f);
  p = wasm_f32x4_mul(p, x);
  v128_t q = wasm_f32x4_splat(-1.45660718464996e-05f);
  POLY(q, -2.13374055278905e-04f);
  POLY(q, -1.68282697438203e-03f);
  POLY(q, -7.37332916720468e-03f);
  POLY(q, -1.42647390514189e-02f);
#undef POLY
  return wasm_f32x4_div(p, q);
}

// exp_f32 on four lanes (the same reduction and polynomial; the clamp keeps 2^n a normal float).
static inline v128_t exp_f32x4(v128_t x) {
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, wasm_f32x4_splat(-87.0f)), wasm_f32x4_splat(88.0f));
  // n = round(x / ln 2) by the 1.5·2^23 trick: the sum's low mantissa bits are n as an integer
  const v128_t magic = wasm_f32x4_splat(12582912.0f);
  v128_t nm = wasm_f32x4_add(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)), magic);
  v128_t n = wasm_f32x4_sub(nm, magic);
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
#define POLY(acc, c) acc = GEMM_MADD(acc, r, wasm_f32x4_splat(c))
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  POLY(p, 1.3981999507e-3f);
  POLY(p, 8.3334519073e-3f);
  POLY(p, 4.1665795894e-2f);
  POLY(p, 1.6666665459e-1f);
  POLY(p, 5.0000001201e-1f);
#undef POLY
  p = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), r),
                     wasm_f32x4_splat(1.0f));
  v128_t scale = wasm_i32x4_shl(
      wasm_i32x4_add(wasm_i32x4_sub(nm, magic), wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(p, scale);
}

// y = (x·0.5)·s with s = 1 + erf(x/√2); the forward can keep s for the backward, which then
// needs only exp: dx = dy·(0.5·s + x·φ(x)), the same values as recomputing erf there.
static inline v128_t gelu_s_f32x4(v128_t v) {
  return wasm_f32x4_add(wasm_f32x4_splat(1.0f),
                        erf_f32x4(wasm_f32x4_mul(v, wasm_f32x4_splat(0.70710678118654752f))));
}

static inline v128_t gelu_grad_f32x4(v128_t v, v128_t s, v128_t dy) {
  v128_t cdf = wasm_f32x4_mul(wasm_f32x4_splat(0.5f), s);
  v128_t pdf = wasm_f32x4_mul(
      exp_f32x4(wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_splat(-0.5f), v), v)),
      wasm_f32x4_splat(0.39894228040143268f));
  return wasm_f32x4_mul(dy, wasm_f32x4_add(cdf, wasm_f32x4_mul(v, pdf)));
}

// y = GELU(x) for n floats; keep (a pointer, or 0) receives s for gelu_backward.
EXPORT(gelu_forward)
void gelu_forward(const float *restrict x, float *restrict y, float *restrict keep, int n) {
  int i = 0;
  // two vectors a step: V8 rematerialises every vector constant at each use inside a loop, so
  // two independent chains share each constant's cost
  for (; i + 8 <= n; i += 8) {
    v128_t a = wasm_v128_load(x + i), b = wasm_v128_load(x + i + 4);
    v128_t sa = gelu_s_f32x4(a), sb = gelu_s_f32x4(b);
    wasm_v128_store(y + i, wasm_f32x4_mul(wasm_f32x4_mul(a, wasm_f32x4_splat(0.5f)), sa));
    wasm_v128_store(y + i + 4, wasm_f32x4_mul(wasm_f32x4_mul(b, wasm_f32x4_splat(0.5f)), sb));
    if (keep) wasm_v128_store(keep + i, sa), wasm_v128_store(keep + i + 4, sb);
  }
  for (; i < n; i += 4) {
    float t[4] __attribute__((aligned(16))) = {0, 0, 0, 0};
    int m = n - i < 4 ? n - i : 4;
    for (int j = 0; j < m; j++) t[j] = x[i + j];
    v128_t a = wasm_v128_load(t), sa = gelu_s_f32x4(a);
    float u[4] __attribute__((aligned(16)));
    wasm_v128_store(t, wasm_f32x4_mul(wasm_f32x4_mul(a, wasm_f32x4_splat(0.5f)), sa));
    wasm_v128_store(u, sa);
    for (int j = 0; j < m; j++) {
      y[i + j] = t[j];
      if (keep) keep[i + j] = u[j];
    }
  }
}

// dx = dy·GELU'(x) from x and the forward's s.
EXPORT(gelu_backward)
void gelu_backward(const float *restrict x, const float *restrict s, const float *restrict dy,
                   float *restrict dx, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    wasm_v128_store(dx + i, gelu_grad_f32x4(wasm_v128_load(x + i), wasm_v128_load(s + i),
                                            wasm_v128_load(dy + i)));
    wasm_v128_store(dx + i + 4, gelu_grad_f32x4(wasm_v128_load(x + i + 4),
                                                wasm_v128_load(s + i + 4),
                                                wasm_v128_load(dy + i + 4)));
  }
  for (; i < n; i += 4) {
    float t[3][4] __attribute__((aligned(16))) = {{0, 0, 0, 0}, {1, 1, 1, 1}, {0, 0, 0, 0}};
    int m = n - i < 4 ? n - i : 4;
    for (int j = 0; j < m; j++) t[0][j] = x[i + j], t[1][j] = s[i + j], t[2][j] = dy[i + j];
    wasm_v128_store(t[0], gelu_grad_f32x4(wasm_v128_load(t[0]), wasm_v128_load(t[1]),
                                          wasm_v128_load(t[2])));
    for (int j = 0; j < m; j++) dx[i + j] = t[0][j];
  }
}

// ---------------------------------------------------------------------------------------------
// Dropout on TF.js's own random stream. tf.dropout(x, rate, undefined, seed) draws n uniforms with
// tf.randomUniform (seedrandom's alea, seeded by Mash of the seed's decimal string, one float64
// per element, stored as float32), then y = x · (floor(u + keep) / keep) in float32 ops. Here the
// same recurrence in float64 and the same float32 operations: the same mask and y bit for bit,
// without the JavaScript loop and the four tensors in between. s0, s1, s2, c: the generator's
// state after seeding (the caller runs Mash); mask (or 0) receives floor(u + keep) / keep.
EXPORT(dropout_alea)
void dropout_alea(const float *restrict x, float *restrict y, float *restrict mask, int n,
                  double s0, double s1, double s2, double c, float keep) {
  for (int i = 0; i < n; i++) {
    double t = 2091639.0 * s0 + c * 2.3283064365386963e-10; // 2^-32
    s0 = s1;
    s1 = s2;
    c = (double)(int)t; // JavaScript's t | 0 (0 <= t < 2^31)
    s2 = t - c;
    float m = __builtin_floorf((float)s2 + keep) / keep;
    if (mask) mask[i] = m;
    y[i] = x[i] * m;
  }
}

// ---------------------------------------------------------------------------------------------
// Layer norm over the last axis of x [R, C] (biased variance, as PyTorch):
//   y = (x − mean)·rstd·g + b, rstd = 1/√(var + eps),
// saving (mean, rstd) per row in stats [R, 2]. The backward, from the same stats:
//   dx = rstd·(dy·g − mean(dy·g) − x̂·mean(dy·g·x̂)), dg = Σ_rows dy·x̂, db = Σ_rows dy.
// Row sums run over four lanes (lane k sums the columns ≡ k mod 4, then the lanes are added in
// order), the column sums of dg, db add the rows in order: a fixed order, the same bits on every
// engine. One pass each way where TF.js's composite runs ~7 ops forward and ~15 backward (with
// its Sum over rows transposing first).

EXPORT(layer_norm_forward)
void layer_norm_forward(const float *restrict x, const float *restrict g, const float *restrict b,
                        float *restrict y, float *restrict stats, int R, int C, float eps) {
  for (int r = 0; r < R; r++) {
    const float *xr = x + (long)r * C;
    float *yr = y + (long)r * C;
    float mean = row_sum(xr, C) / (float)C;
    float rstd = 1.0f / __builtin_sqrtf(row_sq_dev(xr, C, mean) / (float)C + eps);
    stats[2 * r] = mean;
    stats[2 * r + 1] = rstd;
    v128_t m = wasm_f32x4_splat(mean), rs = wasm_f32x4_splat(rstd);
    int j = 0;
    for (; j + 4 <= C; j += 4) {
      v128_t xn = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(xr + j), m), rs);
      wasm_v128_store(yr + j, wasm_f32x4_add(wasm_f32x4_mul(xn, wasm_v128_load(g + j)),
                                             wasm_v128_load(b + j)));
    }
    for (; j < C; j++) yr[j] = ((xr[j] - mean) * rstd) * g[j] + b[j];
  }
}

EXPORT(layer_norm_backward)
void layer_norm_backward(const float *restrict x, const float *restrict g,
                         const float *restrict stats, const float *restrict dy,
                         float *restrict dx, float *restrict dg, float *restrict db, int R,
                         int C) {
  for (int j = 0; j < C; j++) dg[j] = 0.0f, db[j] = 0.0f;
  float invC = 1.0f / (float)C;
  for (int r = 0; r < R; r++) {
    const float *xr = x + (long)r * C, *dyr = dy + (long)r * C;
    float *dxr = dx + (long)r * C;
    float mean = stats[2 * r], rstd = stats[2 * r + 1];
    v128_t m = wasm_f32x4_splat(mean), rs = wasm_f32x4_splat(rstd);
    v128_t s1 = wasm_f32x4_splat(0.0f), s2 = s1;
    int j = 0;
    for (; j + 4 <= C; j += 4) {
      v128_t xn = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(xr + j), m), rs);
      v128_t d = wasm_v128_load(dyr + j);
      v128_t gy = wasm_f32x4_mul(d, wasm_v128_load(g + j));
      s1 = wasm_f32x4_add(s1, gy);
      s2 = wasm_f32x4_add(s2, wasm_f32x4_mul(gy, xn));
      wasm_v128_store(dg + j, wasm_f32x4_add(wasm_v128_load(dg + j), wasm_f32x4_mul(d, xn)));
      wasm_v128_store(db + j, wasm_f32x4_add(wasm_v128_load(db + j), d));
    }
    float a1 = hsum4(s1), a2 = hsum4(s2);
    for (; j < C; j++) {
      float xn = (xr[j] - mean) * rstd, gy = dyr[j] * g[j];
      a1 += gy;
      a2 += gy * xn;
      dg[j] += dyr[j] * xn;
      db[j] += dyr[j];
    }
    v128_t c1 = wasm_f32x4_splat(a1 * invC), c2 = wasm_f32x4_splat(a2 * invC);
    for (j = 0; j + 4 <= C; j += 4) {
      v128_t xn = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(xr + j), m), rs);
      v128_t gy = wasm_f32x4_mul(wasm_v128_load(dyr + j), wasm_v128_load(g + j));
      v128_t t = wasm_f32x4_sub(wasm_f32x4_sub(gy, c1), wasm_f32x4_mul(xn, c2));
      wasm_v128_store(dxr + j, wasm_f32x4_mul(t, rs));
    }
    for (; j < C; j++) {
      float xn = (xr[j] - mean) * rstd, gy = dyr[j] * g[j];
      dxr[j] = ((gy - a1 * invC) - xn * (a2 * invC)) * rstd;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The backward of softmax over the last axis: dx = y·(dy − Σ dy·y) per row of C, from the
// forward's output y (the forward itself is TF.js's Softmax, XNNPACK's on the wasm backend and
// faster than an exp here, whose constants V8 rematerialises at every use). Row sums over four
// lanes, then the lanes in order.

EXPORT(softmax_backward)
void softmax_backward(const float *restrict y, const float *restrict dy, float *restrict dx, int R,
                      int C) {
  for (int r = 0; r < R; r++) {
    const float *yr = y + (long)r * C, *dr = dy + (long)r * C;
    float *xr = dx + (long)r * C;
    v128_t s = wasm_f32x4_splat(0.0f);
    int j = 0;
    for (; j + 4 <= C; j += 4) {
      s = wasm_f32x4_add(s, wasm_f32x4_mul(wasm_v128_load(dr + j), wasm_v128_load(yr + j)));
    }
    float sum = hsum4(s);
    for (; j < C; j++) sum += dr[j] * yr[j];
    v128_t sv = wasm_f32x4_splat(sum);
    for (j = 0; j + 4 <= C; j += 4) {
      wasm_v128_store(xr + j, wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(dr + j), sv),
                                             wasm_v128_load(yr + j)));
    }
    for (; j < C; j++) xr[j] = (dr[j] - sum) * yr[j];
  }
}

// ---------------------------------------------------------------------------------------------
// One AdamW step of one parameter tensor of n floats, exactly the float32 operations, in the
// order, of the composite in lib/train/optim.ts (each TF.js op rounds to float32; so does each
// operation here, and the scalars arrive as float32):
//   θ = decay ? p·keep : p;  m' = m·b1 + g·(1 − b1);  v' = v·b2 + (g·g)·(1 − b2);
//   p' = θ − (m' / (√v' / bc2 + eps))·step
// One call per tensor where the composite dispatches about 15 ops.

static inline void adamw4(v128_t p, v128_t m, v128_t v, v128_t g, int decay, v128_t keep,
                          v128_t b1, v128_t omb1, v128_t b2, v128_t omb2, v128_t bc2, v128_t eps,
                          v128_t step, v128_t *po, v128_t *mo, v128_t *vo) {
  v128_t th = decay ? wasm_f32x4_mul(p, keep) : p;
  v128_t mi = wasm_f32x4_add(wasm_f32x4_mul(m, b1), wasm_f32x4_mul(g, omb1));
  v128_t vi = wasm_f32x4_add(wasm_f32x4_mul(v, b2), wasm_f32x4_mul(wasm_f32x4_mul(g, g), omb2));
  v128_t den = wasm_f32x4_add(wasm_f32x4_div(wasm_f32x4_sqrt(vi), bc2), eps);
  *po = wasm_f32x4_sub(th, wasm_f32x4_mul(wasm_f32x4_div(mi, den), step));
  *mo = mi;
  *vo = vi;
}

EXPORT(adamw_step)
void adamw_step(const float *p, const float *m, const float *v, const float *g, float *po,
                float *mo, float *vo, int n, int decay, float keep, float b1, float omb1,
                float b2, float omb2, float bc2, float eps, float step) {
  v128_t K = wasm_f32x4_splat(keep), B1 = wasm_f32x4_splat(b1), O1 = wasm_f32x4_splat(omb1);
  v128_t B2 = wasm_f32x4_splat(b2), O2 = wasm_f32x4_splat(omb2), C2 = wasm_f32x4_splat(bc2);
  v128_t E = wasm_f32x4_splat(eps), S = wasm_f32x4_splat(step);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t a, b, c;
    adamw4(wasm_v128_load(p + i), wasm_v128_load(m + i), wasm_v128_load(v + i),
           wasm_v128_load(g + i), decay, K, B1, O1, B2, O2, C2, E, S, &a, &b, &c);
    wasm_v128_store(po + i, a), wasm_v128_store(mo + i, b), wasm_v128_store(vo + i, c);
  }
  if (i < n) {
    float t[4][4] __attribute__((aligned(16)));
    for (int q = 0; q < 4; q++) {
      for (int j = 0; j < 4; j++) t[q][j] = 0.0f;
    }
    for (int j = i; j < n; j++) t[0][j - i] = p[j], t[1][j - i] = m[j], t[2][j - i] = v[j], t[3][j - i] = g[j];
    v128_t a, b, c;
    adamw4(wasm_v128_load(t[0]), wasm_v128_load(t[1]), wasm_v128_load(t[2]), wasm_v128_load(t[3]),
           decay, K, B1, O1, B2, O2, C2, E, S, &a, &b, &c);
    wasm_v128_store(t[0], a), wasm_v128_store(t[1], b), wasm_v128_store(t[2], c);
    for (int j = i; j < n; j++) po[j] = t[0][j - i], mo[j] = t[1][j - i], vo[j] = t[2][j - i];
  }
}
