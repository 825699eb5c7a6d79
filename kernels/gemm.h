// Dense GEMM of the hest kernels (included once, by hest_kernels.c): C[M, N] (row stride ldc) =
// op(A)[M, K] · op(B)[K, N] (+ bias), both operands addressed by (row stride, column stride) so
// transposes cost nothing but the packing.
//
// Blocking as in GotoBLAS / BLIS: for each block of NC columns and KC rows of op(B), the block is
// packed into 8-column panels ([panel][k][8]); for each block of MC rows of op(A), the block is
// packed into 4-row micro-panels ([panel][k][4]); a 4 × 8 micro-kernel then runs over every
// (micro-panel, panel) pair with its 8 accumulators in registers. The packed op(B) block (KC × NC
// floats, 256 KiB) stays in L2 and a panel (KC × 8, 8 KiB) in L1.
//
// Why 4 × 8 and one vector load of A per k: Deno does not enable V8's WebAssembly trap handler,
// so every wasm load and store carries an explicit bounds check (lea, cmp, jae: three extra
// instructions, see docs/performance.md). The micro-kernel therefore loads as little as it can
// per multiply: per k one v128 of the packed A panel (4 rows) and two of the B panel; the four
// row broadcasts are lane shuffles in registers. 8 accumulators + 2 B + 1 A + 1 broadcast fit the
// 16 SIMD registers V8 allocates on x64 (6 × 8 or 4 × 12 blocks spill and run slower).
//
// Reproducibility: every C[i, j] is summed as ((0 + a0·b0) + a1·b1) + … in ascending k, whatever
// the blocking (a later K block reloads the partial sums from C and goes on adding), with the
// bias added after the last term: the same float32 operations in the same order as the plain
// triple loop, so the exact build gives the same bits on every engine. The fast build
// (HEST_FAST, kernels/hest_kernels_fast.wasm) fuses each multiply-add with relaxed SIMD
// (`f32x4.relaxed_madd`), which an engine may compute with or without the intermediate rounding.

#define GEMM_MR 4
#define GEMM_NR 8
#define GEMM_KC 256
#define GEMM_MC 64
#define GEMM_NC 256
#ifdef HEST_FAST
#define GEMM_DIRECT_N 0  // clang 16 spills the in-place kernel's fused loop: packed only
#else
#define GEMM_DIRECT_N 64
#endif

#ifdef HEST_FAST
#define GEMM_MADD(a, b, c) __builtin_wasm_relaxed_madd_f32x4(a, b, c)
#else
#define GEMM_MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), c)
#endif

static inline int gemm_min(int a, int b) { return a < b ? a : b; }

// Floats of scratch gemm_packed needs for these sizes.
static inline int gemm_scratch_floats(int M, int N, int K) {
  int kc = gemm_min(K, GEMM_KC);
  int nc = (gemm_min(N, GEMM_NC) + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
  int mc = (gemm_min(M, GEMM_MC) + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
  return kc * (nc + mc) + 16;
}

// Four vectors (rows r0..r3 of four floats each) transposed in registers: on return r0 holds the
// first elements of the four rows, r1 the second ones, and so on.
#define GEMM_TRANSPOSE4(r0, r1, r2, r3)                      \
  {                                                          \
    v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5);      \
    v128_t t1 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5);      \
    v128_t t2 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);      \
    v128_t t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);      \
    r0 = wasm_i32x4_shuffle(t0, t1, 0, 1, 4, 5);             \
    r1 = wasm_i32x4_shuffle(t0, t1, 2, 3, 6, 7);             \
    r2 = wasm_i32x4_shuffle(t2, t3, 0, 1, 4, 5);             \
    r3 = wasm_i32x4_shuffle(t2, t3, 2, 3, 6, 7);             \
  }

// op(A)[0:mc, 0:kc] → 4-row micro-panels, zero rows past mc.
static void gemm_pack_a(const float *A, long rs, long cs, int mc, int kc, float *Ap) {
  for (int p = 0; p < mc; p += GEMM_MR) {
    int rows = gemm_min(mc - p, GEMM_MR);
    float *d = Ap + (long)p * kc;
    const float *s = A + p * rs;
    if (rows == GEMM_MR && rs == 1) {  // columns of a transposed operand: 4 contiguous floats
      for (int k = 0; k < kc; k++) wasm_v128_store(d + 4 * k, wasm_v128_load(s + k * cs));
      continue;
    }
    if (rows == GEMM_MR && cs == 1) {  // a row-major A: 4 × 4 blocks transposed in registers
      int k = 0;
      for (; k + 4 <= kc; k += 4) {
        v128_t r0 = wasm_v128_load(s + k), r1 = wasm_v128_load(s + rs + k);
        v128_t r2 = wasm_v128_load(s + 2 * rs + k), r3 = wasm_v128_load(s + 3 * rs + k);
        GEMM_TRANSPOSE4(r0, r1, r2, r3)
        wasm_v128_store(d + 4 * k, r0), wasm_v128_store(d + 4 * k + 4, r1);
        wasm_v128_store(d + 4 * k + 8, r2), wasm_v128_store(d + 4 * k + 12, r3);
      }
      for (; k < kc; k++) {
        for (int r = 0; r < GEMM_MR; r++) d[4 * k + r] = s[r * rs + k];
      }
      continue;
    }
    for (int k = 0; k < kc; k++) {
      for (int r = 0; r < GEMM_MR; r++) d[4 * k + r] = r < rows ? s[r * rs + k * cs] : 0.0f;
    }
  }
}

// op(B)[0:kc, 0:nc] → 8-column panels, zero columns past nc.
static void gemm_pack_b(const float *B, long rs, long cs, int kc, int nc, float *Bp) {
  for (int j = 0; j < nc; j += GEMM_NR) {
    int cols = gemm_min(nc - j, GEMM_NR);
    float *d = Bp + (long)j * kc;
    const float *s = B + j * cs;
    if (cols == GEMM_NR && cs == 1) {
      for (int k = 0; k < kc; k++) {
        wasm_v128_store(d + 8 * k, wasm_v128_load(s + k * rs));
        wasm_v128_store(d + 8 * k + 4, wasm_v128_load(s + k * rs + 4));
      }
      continue;
    }
    if (cols == GEMM_NR && rs == 1) {  // a transposed B (k·ᵀ): 4 × 4 blocks in registers
      int k = 0;
      for (; k + 4 <= kc; k += 4) {
        for (int h = 0; h < 2; h++) {
          const float *c0 = s + (4 * h) * cs + k;
          v128_t r0 = wasm_v128_load(c0), r1 = wasm_v128_load(c0 + cs);
          v128_t r2 = wasm_v128_load(c0 + 2 * cs), r3 = wasm_v128_load(c0 + 3 * cs);
          GEMM_TRANSPOSE4(r0, r1, r2, r3)
          wasm_v128_store(d + 8 * k + 4 * h, r0), wasm_v128_store(d + 8 * (k + 1) + 4 * h, r1);
          wasm_v128_store(d + 8 * (k + 2) + 4 * h, r2), wasm_v128_store(d + 8 * (k + 3) + 4 * h, r3);
        }
      }
      for (; k < kc; k++) {
        for (int c = 0; c < GEMM_NR; c++) d[8 * k + c] = s[k + c * cs];
      }
      continue;
    }
    for (int k = 0; k < kc; k++) {
      for (int c = 0; c < GEMM_NR; c++) d[8 * k + c] = c < cols ? s[k * rs + c * cs] : 0.0f;
    }
  }
}

// The 4 × 8 accumulators c00 … c31 of a micro-kernel over the block of C at c (row stride ldc),
// of which `rows` × `cols` are valid (`full` when all 32 are): GEMM_ACC_START sets them to 0 for
// the first K block, else to C's partial sums (a partial block through the zero-padded tmp);
// GEMM_ACC_FINISH adds the bias (8 floats, or NULL) and stores the valid part. Macros, not
// functions, so the accumulators stay named registers in both micro-kernels.
#define GEMM_ACC_START(rows)                                                              \
  if (first) {                                                                            \
    c00 = wasm_f32x4_splat(0.0f);                                                         \
    c01 = c10 = c11 = c20 = c21 = c30 = c31 = c00;                                         \
  } else {                                                                                \
    const float *src = c;                                                                 \
    long ld = ldc;                                                                        \
    if (!full) {                                                                          \
      for (int r = 0; r < GEMM_MR; r++) {                                                 \
        for (int q = 0; q < GEMM_NR; q++) {                                               \
          tmp[8 * r + q] = r < (rows) && q < cols ? c[r * ldc + q] : 0.0f;                \
        }                                                                                 \
      }                                                                                   \
      src = tmp;                                                                          \
      ld = 8;                                                                             \
    }                                                                                     \
    c00 = wasm_v128_load(src), c01 = wasm_v128_load(src + 4);                             \
    c10 = wasm_v128_load(src + ld), c11 = wasm_v128_load(src + ld + 4);                   \
    c20 = wasm_v128_load(src + 2 * ld), c21 = wasm_v128_load(src + 2 * ld + 4);           \
    c30 = wasm_v128_load(src + 3 * ld), c31 = wasm_v128_load(src + 3 * ld + 4);           \
  }

#define GEMM_ACC_FINISH(rows)                                                             \
  {                                                                                       \
    if (bias) {                                                                           \
      v128_t bl = wasm_v128_load(bias), bh = wasm_v128_load(bias + 4);                    \
      c00 = wasm_f32x4_add(c00, bl), c01 = wasm_f32x4_add(c01, bh);                       \
      c10 = wasm_f32x4_add(c10, bl), c11 = wasm_f32x4_add(c11, bh);                       \
      c20 = wasm_f32x4_add(c20, bl), c21 = wasm_f32x4_add(c21, bh);                       \
      c30 = wasm_f32x4_add(c30, bl), c31 = wasm_f32x4_add(c31, bh);                       \
    }                                                                                     \
    float *dst = full ? c : tmp;                                                          \
    long ld = full ? ldc : 8;                                                             \
    wasm_v128_store(dst, c00), wasm_v128_store(dst + 4, c01);                             \
    wasm_v128_store(dst + ld, c10), wasm_v128_store(dst + ld + 4, c11);                   \
    wasm_v128_store(dst + 2 * ld, c20), wasm_v128_store(dst + 2 * ld + 4, c21);           \
    wasm_v128_store(dst + 3 * ld, c30), wasm_v128_store(dst + 3 * ld + 4, c31);           \
    if (!full) {                                                                          \
      for (int r = 0; r < (rows); r++) {                                                  \
        for (int q = 0; q < cols; q++) c[r * ldc + q] = tmp[8 * r + q];                   \
      }                                                                                   \
    }                                                                                     \
  }

// The 4 × 8 block of C at c: first = 1 starts the sums from 0, else from C's partial sums;
// bias (8 floats, or NULL) is added after the last K block. rows / cols: the valid part.
static void gemm_micro(const float *restrict a, const float *restrict b, int kc, float *c,
                       long ldc, int rows, int cols, int first, const float *bias) {
  v128_t c00, c01, c10, c11, c20, c21, c30, c31;
  int full = rows == GEMM_MR && cols == GEMM_NR;
  float tmp[GEMM_MR * GEMM_NR] __attribute__((aligned(16)));
  GEMM_ACC_START(rows)
  for (int k = 0; k < kc; k++, a += GEMM_MR, b += GEMM_NR) {
    v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
    v128_t av = wasm_v128_load(a);
    v128_t x = wasm_i32x4_shuffle(av, av, 0, 0, 0, 0);
    c00 = GEMM_MADD(x, b0, c00);
    c01 = GEMM_MADD(x, b1, c01);
    x = wasm_i32x4_shuffle(av, av, 1, 1, 1, 1);
    c10 = GEMM_MADD(x, b0, c10);
    c11 = GEMM_MADD(x, b1, c11);
    x = wasm_i32x4_shuffle(av, av, 2, 2, 2, 2);
    c20 = GEMM_MADD(x, b0, c20);
    c21 = GEMM_MADD(x, b1, c21);
    x = wasm_i32x4_shuffle(av, av, 3, 3, 3, 3);
    c30 = GEMM_MADD(x, b0, c30);
    c31 = GEMM_MADD(x, b1, c31);
  }
  GEMM_ACC_FINISH(rows)
}

// The same 4 × 8 block with op(A) read in place from four rows of a row-major A (row stride
// lda): per four k, one v128 from each row, whose lanes are broadcast in turn: the same loads per
// k as the packed panel and no packing, which for a narrow product (N = 32 in att·V: 32 columns
// per A element) costs as much as the multiply-adds. The sums are the same, term by term.
#define GEMM_ROW_STEP(kk)                                          \
  {                                                                \
    v128_t b0 = wasm_v128_load(b + 8 * kk), b1 = wasm_v128_load(b + 8 * kk + 4); \
    v128_t x = wasm_i32x4_shuffle(r0, r0, kk, kk, kk, kk);          \
    c00 = GEMM_MADD(x, b0, c00);                                    \
    c01 = GEMM_MADD(x, b1, c01);                                    \
    x = wasm_i32x4_shuffle(r1, r1, kk, kk, kk, kk);                 \
    c10 = GEMM_MADD(x, b0, c10);                                    \
    c11 = GEMM_MADD(x, b1, c11);                                    \
    x = wasm_i32x4_shuffle(r2, r2, kk, kk, kk, kk);                 \
    c20 = GEMM_MADD(x, b0, c20);                                    \
    c21 = GEMM_MADD(x, b1, c21);                                    \
    x = wasm_i32x4_shuffle(r3, r3, kk, kk, kk, kk);                 \
    c30 = GEMM_MADD(x, b0, c30);                                    \
    c31 = GEMM_MADD(x, b1, c31);                                    \
  }

static void gemm_micro_rows(const float *restrict a, long lda, const float *restrict b, int kc,
                            float *c, long ldc, int cols, int first, const float *bias) {
  v128_t c00, c01, c10, c11, c20, c21, c30, c31;
  float tmp[GEMM_MR * GEMM_NR] __attribute__((aligned(16)));
  int full = cols == GEMM_NR;
  GEMM_ACC_START(GEMM_MR)
  const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda;
  int k = 0;
  for (; k + 4 <= kc; k += 4, b += 4 * GEMM_NR) {
    v128_t r0 = wasm_v128_load(a0 + k), r1 = wasm_v128_load(a1 + k);
    v128_t r2 = wasm_v128_load(a2 + k), r3 = wasm_v128_load(a3 + k);
    GEMM_ROW_STEP(0)
    GEMM_ROW_STEP(1)
    GEMM_ROW_STEP(2)
    GEMM_ROW_STEP(3)
  }
  for (; k < kc; k++, b += GEMM_NR) {
    v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
    v128_t x = wasm_v128_load32_splat(a0 + k);
    c00 = GEMM_MADD(x, b0, c00);
    c01 = GEMM_MADD(x, b1, c01);
    x = wasm_v128_load32_splat(a1 + k);
    c10 = GEMM_MADD(x, b0, c10);
    c11 = GEMM_MADD(x, b1, c11);
    x = wasm_v128_load32_splat(a2 + k);
    c20 = GEMM_MADD(x, b0, c20);
    c21 = GEMM_MADD(x, b1, c21);
    x = wasm_v128_load32_splat(a3 + k);
    c30 = GEMM_MADD(x, b0, c30);
    c31 = GEMM_MADD(x, b1, c31);
  }
  GEMM_ACC_FINISH(GEMM_MR)
}

// The 4 × 4 block for an edge panel with at most 4 valid columns (N = 100 leaves one in 13): half
// the multiply-adds of gemm_micro, the same sums for the valid columns.
static void gemm_micro4(const float *restrict a, const float *restrict b, int kc, float *c,
                        long ldc, int rows, int cols, int first, const float *bias) {
  v128_t c0, c1, c2, c3;
  float tmp[GEMM_MR * 4] __attribute__((aligned(16)));
  int full = rows == GEMM_MR && cols == 4;
  if (first) {
    c0 = c1 = c2 = c3 = wasm_f32x4_splat(0.0f);
  } else {
    for (int r = 0; r < GEMM_MR; r++) {
      for (int q = 0; q < 4; q++) tmp[4 * r + q] = r < rows && q < cols ? c[r * ldc + q] : 0.0f;
    }
    c0 = wasm_v128_load(tmp), c1 = wasm_v128_load(tmp + 4);
    c2 = wasm_v128_load(tmp + 8), c3 = wasm_v128_load(tmp + 12);
  }
  for (int k = 0; k < kc; k++, a += GEMM_MR, b += GEMM_NR) {
    v128_t b0 = wasm_v128_load(b), av = wasm_v128_load(a);
    c0 = GEMM_MADD(wasm_i32x4_shuffle(av, av, 0, 0, 0, 0), b0, c0);
    c1 = GEMM_MADD(wasm_i32x4_shuffle(av, av, 1, 1, 1, 1), b0, c1);
    c2 = GEMM_MADD(wasm_i32x4_shuffle(av, av, 2, 2, 2, 2), b0, c2);
    c3 = GEMM_MADD(wasm_i32x4_shuffle(av, av, 3, 3, 3, 3), b0, c3);
  }
  if (bias) {
    v128_t bl = wasm_v128_load(bias);
    c0 = wasm_f32x4_add(c0, bl), c1 = wasm_f32x4_add(c1, bl);
    c2 = wasm_f32x4_add(c2, bl), c3 = wasm_f32x4_add(c3, bl);
  }
  if (full) {
    wasm_v128_store(c, c0), wasm_v128_store(c + ldc, c1);
    wasm_v128_store(c + 2 * ldc, c2), wasm_v128_store(c + 3 * ldc, c3);
    return;
  }
  wasm_v128_store(tmp, c0), wasm_v128_store(tmp + 4, c1);
  wasm_v128_store(tmp + 8, c2), wasm_v128_store(tmp + 12, c3);
  for (int r = 0; r < rows; r++) {
    for (int q = 0; q < cols; q++) c[r * ldc + q] = tmp[4 * r + q];
  }
}

// C[M, N] = op(A) · op(B) (+ bias[N] zero-padded to a multiple of 8, or NULL). op(A)[m, k] at
// A[m·ars + k·acs], op(B)[k, n] at B[k·brs + n·bcs]. scratch: gemm_scratch_floats(M, N, K)
// floats, 16-byte aligned. K = 0 gives C = bias (or 0).
static void gemm_packed(const float *A, long ars, long acs, const float *B, long brs, long bcs,
                        float *C, long ldc, int M, int N, int K, const float *bias,
                        float *scratch) {
  if (K == 0) {
    for (int m = 0; m < M; m++) {
      for (int n = 0; n < N; n++) C[m * ldc + n] = bias ? bias[n] : 0.0f;
    }
    return;
  }
  int kcMax = gemm_min(K, GEMM_KC);
  int ncMax = (gemm_min(N, GEMM_NC) + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
  float *Bp = scratch;
  float *Ap = scratch + (long)kcMax * ncMax;
  for (int jc = 0; jc < N; jc += GEMM_NC) {
    int nc = gemm_min(N - jc, GEMM_NC);
    for (int pc = 0; pc < K; pc += GEMM_KC) {
      int kc = gemm_min(K - pc, GEMM_KC);
      int last = pc + kc == K;
      gemm_pack_b(B + pc * brs + jc * bcs, brs, bcs, kc, nc, Bp);
      for (int ic = 0; ic < M; ic += GEMM_MC) {
        int mc = gemm_min(M - ic, GEMM_MC);
        const float *Ablock = A + ic * ars + pc * acs;
        // a row-major A of a narrow product (≤ GEMM_DIRECT_N columns, where packing A costs as
        // much as the products) is read in place, but for a last micro-panel of fewer than 4
        // rows; wider products amortise the packing and run faster from the packed panel
        int direct = acs == 1 && N <= GEMM_DIRECT_N ? mc / GEMM_MR * GEMM_MR : 0;
        if (direct < mc) {
          gemm_pack_a(Ablock + direct * ars, ars, acs, mc - direct, kc, Ap + (long)direct * kc);
        }
        for (int jr = 0; jr < nc; jr += GEMM_NR) {
          int cols = gemm_min(nc - jr, GEMM_NR);
          const float *bb = last && bias ? bias + jc + jr : 0;
          const float *bp = Bp + (long)jr * kc;
          for (int ir = 0; ir < mc; ir += GEMM_MR) {
            float *cc = C + (ic + ir) * ldc + jc + jr;
            if (cols <= 4) {
              if (ir < direct) {  // the in-place rows through a packed copy of this micro-panel
                gemm_pack_a(Ablock + ir * ars, ars, acs, GEMM_MR, kc, Ap + (long)ir * kc);
              }
              gemm_micro4(Ap + (long)ir * kc, bp, kc, cc, ldc, gemm_min(mc - ir, GEMM_MR), cols,
                          pc == 0, bb);
            } else if (ir < direct) {
              gemm_micro_rows(Ablock + ir * ars, ars, bp, kc, cc, ldc, cols, pc == 0, bb);
            } else {
              gemm_micro(Ap + (long)ir * kc, bp, kc, cc, ldc, gemm_min(mc - ir, GEMM_MR), cols,
                         pc == 0, bb);
            }
          }
        }
      }
    }
  }
}

// A register-resident loop of SIMD multiply-adds for `n` steps: 14 independent accumulators
// (c = c·x + y; with x and y that fills the 16 SIMD registers V8 allocates on x64), 112 flops a
// step, no memory access: the most multiply-adds per second this engine issues, in the exact
// build as f32x4.mul + f32x4.add, in the fast one as f32x4.relaxed_madd (kernels/peak.ts).
#define PEAK_ACC 14
EXPORT(simd_peak)
float simd_peak(int n, float s) {
  v128_t c[PEAK_ACC];
  for (int i = 0; i < PEAK_ACC; i++) c[i] = wasm_f32x4_splat(s * (float)i);
  v128_t x = wasm_f32x4_splat(0.999f), y = wasm_f32x4_splat(1e-3f);
  for (int k = 0; k < n; k++) {
    for (int i = 0; i < PEAK_ACC; i++) c[i] = GEMM_MADD(c[i], x, y);
    __asm__ volatile("" ::: "memory");  // one step per iteration: no unrolling across steps
  }
  v128_t t = c[0];
  for (int i = 1; i < PEAK_ACC; i++) t = wasm_f32x4_add(t, c[i]);
  return wasm_f32x4_extract_lane(t, 0) + wasm_f32x4_extract_lane(t, 3);
}

// 1 in the fast build (relaxed-SIMD multiply-add), 0 in the exact one.
EXPORT(kernels_fast)
int kernels_fast(void) {
#ifdef HEST_FAST
  return 1;
#else
  return 0;
#endif
}
