// hest WASM SIMD kernels: fused multi-step LIF (forward + BPTT surrogate backward), batched
// matrix products (dense SIMD and event-driven for binary operands).
//
// Built by kernels/build.ts with Debian clang 14 + lld:
//   clang --target=wasm32 -O3 -msimd128 -ffreestanding -nostdlib -Wl,--no-entry ...
// No libc, no imports: the module exports its memory, `__heap_base` and the kernels below. The
// TypeScript side (kernels/wasm.ts) lays out every buffer above `__heap_base` and passes
// pointers; nothing here allocates.
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
// (the initial membrane) and V[T] on return.
//   k = fround(1/τ), omk = fround(1 − 1/τ), vr = V_reset (0 for a soft reset),
//   soft = 1 for a soft reset, decay = decayInput, leakMode 0: V·(1−k) (used when vr == 0),
//   1: V − (V − vr)·k.

EXPORT(lif_forward)
void lif_forward(const float *restrict x, float *restrict s, float *restrict h,
                 float *restrict v, int T, int n, float k, float omk, float vr, float vth,
                 int soft, int decay, int leakMode) {
  for (int t = 0; t < T; t++) {
    const float *xt = x + (long)t * n;
    float *st = s + (long)t * n;
    float *ht = h + (long)t * n;
    for (int j = 0; j < n; j++) {
      float vp = v[j];
      float leak = leakMode == 0 ? vp * omk : vp - (vp - vr) * k;
      float hh = leak + (decay ? xt[j] * k : xt[j]);
      float sp = (hh - vth) >= 0.0f ? 1.0f : 0.0f;
      float vn = soft ? hh - sp * vth : hh * (1.0f - sp) + sp * vr;
      ht[j] = hh;
      st[j] = sp;
      v[j] = vn;
    }
  }
}

// BPTT backward of sum(dy ⊙ S) given H (saved by the forward). dx: [T, n]; gv: [n] scratch, on
// return dL/dV[0] (the gradient of the initial membrane; 0 with detachMembrane).
EXPORT(lif_backward)
void lif_backward(const float *restrict dy, const float *restrict h, float *restrict dx,
                  float *restrict gv, int T, int n, float k, float omk, float vr, float vth,
                  int soft, int decay, int detachReset, int detachMembrane, int kind,
                  float alpha) {
  const float c = 3.14159265358979f * alpha * 0.5f;
  for (int j = 0; j < n; j++) gv[j] = 0.0f;
  for (int t = T - 1; t >= 0; t--) {
    const float *dyt = dy + (long)t * n;
    const float *ht = h + (long)t * n;
    float *dxt = dx + (long)t * n;
    for (int j = 0; j < n; j++) {
      float hh = ht[j];
      float hd = hh - vth;
      float sp = hd >= 0.0f ? 1.0f : 0.0f;
      float g = gv[j];
      float dVdH = soft ? 1.0f : 1.0f - sp;
      float dVdS = detachReset ? 0.0f : (soft ? -vth : vr - hh);
      float gS = dyt[j] + g * dVdS;
      float gH = gS * surrogate(hd, kind, alpha, c) + g * dVdH;
      dxt[j] = decay ? gH * k : gH;
      gv[j] = detachMembrane ? 0.0f : gH * omk;
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

// Store 8 lanes of a row: straight into C when they all fit, else only the first `valid`.
static inline void store8(float *c, v128_t lo, v128_t hi, int valid) {
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

// Dense C[M, N] (row stride ldc) = A[M, K] (row-major, row stride K) · Bp[K, Np] (Np a multiple
// of 8, zero-padded). Register block: 4 rows × 8 columns.
static void gemm_dense(const float *restrict A, const float *restrict Bp, float *restrict C,
                       int M, int N, int K, int Np, int ldc) {
  int i = 0;
  for (; i + 4 <= M; i += 4) {
    const float *a0 = A + (long)i * K, *a1 = a0 + K, *a2 = a1 + K, *a3 = a2 + K;
    for (int j = 0; j < Np; j += 8) {
      v128_t c00 = wasm_f32x4_splat(0), c01 = c00, c10 = c00, c11 = c00;
      v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
      const float *b = Bp + j;
      for (int k = 0; k < K; k++, b += Np) {
        v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
        v128_t x0 = wasm_f32x4_splat(a0[k]);
        v128_t x1 = wasm_f32x4_splat(a1[k]);
        v128_t x2 = wasm_f32x4_splat(a2[k]);
        v128_t x3 = wasm_f32x4_splat(a3[k]);
        c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x0, b0));
        c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x0, b1));
        c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x1, b0));
        c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x1, b1));
        c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(x2, b0));
        c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(x2, b1));
        c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(x3, b0));
        c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(x3, b1));
      }
      int valid = N - j;
      float *c = C + (long)i * ldc + j;
      store8(c, c00, c01, valid);
      store8(c + ldc, c10, c11, valid);
      store8(c + 2 * ldc, c20, c21, valid);
      store8(c + 3 * ldc, c30, c31, valid);
    }
  }
  for (; i < M; i++) {
    const float *a0 = A + (long)i * K;
    for (int j = 0; j < Np; j += 8) {
      v128_t c00 = wasm_f32x4_splat(0), c01 = c00;
      const float *b = Bp + j;
      for (int k = 0; k < K; k++, b += Np) {
        v128_t x0 = wasm_f32x4_splat(a0[k]);
        c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x0, wasm_v128_load(b)));
        c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x0, wasm_v128_load(b + 4)));
      }
      store8(C + (long)i * ldc + j, c00, c01, N - j);
    }
  }
}

// Event-driven C[M, N] (row stride ldc) = L · Bp where L[M, K] holds only 0 and 1 (addressed by
// strides): for every row, the indices of its ones are gathered and the matching rows of
// Bp[K, Np] summed; no multiplies. Returns the number of entries of L that are neither 0 nor 1
// (counted as 1).
static int gemm_binary_left(const float *L, int lrs, int lcs, const float *restrict Bp,
                            float *restrict C, int M, int N, int K, int Np, int ldc,
                            int *restrict idx) {
  int bad = 0;
  for (int i = 0; i < M; i++) {
    const float *row = L + (long)i * lrs;
    int nz = 0;
    for (int k = 0; k < K; k++) {
      float a = row[(long)k * lcs];
      if (a != 0.0f) {
        bad += a != 1.0f;
        idx[nz++] = k * Np;
      }
    }
    float *c = C + (long)i * ldc;
    int j = 0;
    for (; j + 16 <= Np; j += 16) {
      v128_t s0 = wasm_f32x4_splat(0), s1 = s0, s2 = s0, s3 = s0;
      const float *b = Bp + j;
      for (int e = 0; e < nz; e++) {
        const float *br = b + idx[e];
        s0 = wasm_f32x4_add(s0, wasm_v128_load(br));
        s1 = wasm_f32x4_add(s1, wasm_v128_load(br + 4));
        s2 = wasm_f32x4_add(s2, wasm_v128_load(br + 8));
        s3 = wasm_f32x4_add(s3, wasm_v128_load(br + 12));
      }
      store8(c + j, s0, s1, N - j);
      store8(c + j + 8, s2, s3, N - j - 8);
    }
    for (; j < Np; j += 8) {
      v128_t s0 = wasm_f32x4_splat(0), s1 = s0;
      const float *b = Bp + j;
      for (int e = 0; e < nz; e++) {
        const float *br = b + idx[e];
        s0 = wasm_f32x4_add(s0, wasm_v128_load(br));
        s1 = wasm_f32x4_add(s1, wasm_v128_load(br + 4));
      }
      store8(c + j, s0, s1, N - j);
    }
  }
  return bad;
}

// Batched C[b] = op(A[b]) · op(B[b]) for b < batch, op(X) = X or Xᵀ.
//   op(A): [M, K], stored [M, K] or (transA) [K, M]; op(B): [K, N], stored [K, N] or (transB)
//   [N, K]; C: [M, N]. mode 0: dense; 1: op(A) is binary (event-driven over its ones);
//   2: op(B) is binary (computed as Cᵀ = op(B)ᵀ · op(A)ᵀ, event-driven, then transposed).
//   scratch: at least bmm_scratch_floats(M, N, K) floats, 16-byte aligned.
// Returns the number of entries of the binary operand that were neither 0 nor 1.
EXPORT(bmm)
int bmm(const float *A, const float *B, float *C, int batch, int M, int N, int K, int transA,
        int transB, int mode, float *scratch) {
  int bad = 0;
  long sa = (long)M * K, sb = (long)K * N, sc = (long)M * N;
  // Strides of op(A)[m, k] and op(B)[k, n].
  int ars = transA ? 1 : K, acs = transA ? M : 1;
  int brs = transB ? 1 : N, bcs = transB ? K : 1;
  for (int b = 0; b < batch; b++) {
    const float *a = A + b * sa, *bb = B + b * sb;
    float *c = C + b * sc;
    if (mode == 0) {
      int Np = round_up(N, 8);
      float *Bp = scratch;
      float *Ap = scratch + (long)K * Np;
      pack(bb, K, N, brs, bcs, Bp, Np);
      const float *Ause = a;
      if (transA) {
        pack(a, M, K, ars, acs, Ap, K);
        Ause = Ap;
      }
      gemm_dense(Ause, Bp, c, M, N, K, Np, N);
    } else if (mode == 1) {
      int Np = round_up(N, 8);
      float *Bp = scratch;
      int *idx = (int *)(scratch + (long)K * Np);
      pack(bb, K, N, brs, bcs, Bp, Np);
      bad += gemm_binary_left(a, ars, acs, Bp, c, M, N, K, Np, N, idx);
    } else {
      // Cᵀ[N, M] = op(B)ᵀ[N, K] · op(A)ᵀ[K, M]. op(B)ᵀ[n, k] = op(B)[k, n]: strides (bcs, brs).
      int Mp = round_up(M, 8);
      float *Rp = scratch;                      // op(A)ᵀ packed [K, Mp]
      float *Ct = scratch + (long)K * Mp;       // [N, Mp]
      int *idx = (int *)(Ct + (long)N * Mp);
      pack(a, K, M, acs, ars, Rp, Mp);
      bad += gemm_binary_left(bb, bcs, brs, Rp, Ct, N, M, K, Mp, Mp, idx);
      for (int m = 0; m < M; m++) {
        float *cr = c + (long)m * N;
        for (int n = 0; n < N; n++) cr[n] = Ct[(long)n * Mp + m];
      }
    }
  }
  return bad;
}

// Floats of scratch `bmm` needs for one batch element of the given mode.
EXPORT(bmm_scratch_floats)
int bmm_scratch_floats(int M, int N, int K, int mode) {
  if (mode == 0) return K * round_up(N, 8) + M * K + 16;
  if (mode == 1) return K * round_up(N, 8) + K + 16;
  return K * round_up(M, 8) + N * round_up(M, 8) + K + 16;
}
