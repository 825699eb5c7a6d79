// The per-trial norm over all channels (lib/snn/spike_norm.ts sampleSpikeNorm), alone and followed
// by the LIF as one op: included by hest_kernels.c after the spike-norm kernels it calls (sn_stats,
// sn_backward_core) and lif_simd.h.
//
// The composite it replaces is three ops: spike_norm_forward on x seen as [T, B, L·C, 1] with a
// unit gain and zero bias (one mean and reciprocal deviation per trial), TF.js's Multiply by g[c]
// and Add of bias[c], then the LIF. These kernels evaluate the same float32 expressions in the same
// order, so spikes and gradients equal the composite's bit for bit:
//   x̂ = ((x − μ)·r)·1 + 0,  y = x̂·g[c] + bias[c],  s = LIF(y);
//   backward: dy = LIF BPTT(ds); dbias[c] = Σ dy and dg[c] = Σ dy·x̂ over (t, b, l) in memory
//   order, one float32 sum per channel (the order of TF.js wasm's Sum over the leading axes);
//   dx̂ = dy·g[c]; dx = the unit-gain spike-norm backward of dx̂ (sn_backward_core, C = 1).

// x̂ as spike_norm_forward computes it with g0 = 1, b0 = 0: of one value, and of four channels.
static inline float sample_xhat(float x, float m, float r) { return ((x - m) * r) * 1.0f + 0.0f; }

static inline v128_t sample_xhat4(const float *x, v128_t m, v128_t r) {
  return wasm_f32x4_add(
      wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(x), m), r), splat4(1.0f)),
      splat4(0.0f));
}

// y = x̂·g + bias of four channels of one row.
static inline v128_t sample_affine4(const float *x, const float *g, const float *bias, v128_t m,
                                    v128_t r) {
  return wasm_f32x4_add(wasm_f32x4_mul(sample_xhat4(x, m, r), wasm_v128_load(g)),
                        wasm_v128_load(bias));
}

// The norm's backward from dy (dy and dx may be the same array: each element is read before it is
// written). sa: 2·B + 3 floats of scratch.
static void sample_norm_backward_core(const float *restrict x, const float *restrict g,
                                      const float *dy, float *dx, float *restrict dg,
                                      float *restrict db, int T, int B, int L, int C,
                                      const float *restrict mean, const float *restrict rstd,
                                      float *restrict sa) {
  const long ldt = (long)B * L * C;
  float *ss = sa + B, *unit = ss + B;
  // dbias and dg over the rows in memory order, and dx̂ = dy·g
  for (int c = 0; c < C; c++) dg[c] = 0.0f, db[c] = 0.0f;
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < B; b++) {
      const float m = mean[b], r = rstd[b];
      const v128_t m4 = splat4(m), r4 = splat4(r);
      for (int l = 0; l < L; l++) {
        long off = t * ldt + ((long)b * L + l) * C;
        const float *xr = x + off, *dr = dy + off;
        float *o = dx + off;
        int c = 0;
        for (; c + 4 <= C; c += 4) {
          v128_t xh = sample_xhat4(xr + c, m4, r4);
          v128_t d = wasm_v128_load(dr + c);
          wasm_v128_store(db + c, wasm_f32x4_add(wasm_v128_load(db + c), d));
          wasm_v128_store(dg + c, wasm_f32x4_add(wasm_v128_load(dg + c), wasm_f32x4_mul(d, xh)));
          wasm_v128_store(o + c, wasm_f32x4_mul(d, wasm_v128_load(g + c)));
        }
        for (; c < C; c++) {
          float d = dr[c];
          db[c] += d;
          dg[c] += d * sample_xhat(xr[c], m, r);
          o[c] = d * g[c];
        }
      }
    }
  }
  // the unit-gain norm's backward of dx̂, the trial seen as one channel of L·C positions
  unit[0] = 1.0f;
  sn_backward_core(x, unit, dx, dx, unit + 1, unit + 2, T, B, L * C, 1, ldt, mean, rstd, sa, ss);
}

// The norm alone: y [T, B, L, C] = x̂·g + bias over the whole array; each trial's μ and r go to
// mean and rstd (B floats each).
EXPORT(sample_norm_forward)
void sample_norm_forward(const float *restrict x, const float *restrict g,
                         const float *restrict bias, float *restrict y, int T, int B, int L, int C,
                         float eps, float *restrict mean, float *restrict rstd) {
  const long ldt = (long)B * L * C;
  sn_stats(x, T, B, L * C, 1, ldt, eps, mean, rstd);
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < B; b++) {
      const float m = mean[b], r = rstd[b];
      const v128_t m4 = splat4(m), r4 = splat4(r);
      for (int l = 0; l < L; l++) {
        long off = t * ldt + ((long)b * L + l) * C;
        const float *xr = x + off;
        float *yr = y + off;
        int c = 0;
        for (; c + 4 <= C; c += 4) {
          wasm_v128_store(yr + c, sample_affine4(xr + c, g + c, bias + c, m4, r4));
        }
        for (; c < C; c++) yr[c] = sample_xhat(xr[c], m, r) * g[c] + bias[c];
      }
    }
  }
}

// Its backward: dx, dg, dbias from dy; scratch: sample_norm_backward_scratch_floats(B) floats.
EXPORT(sample_norm_backward)
void sample_norm_backward(const float *restrict x, const float *restrict g,
                          const float *restrict dy, float *restrict dx, float *restrict dg,
                          float *restrict db, int T, int B, int L, int C,
                          const float *restrict mean, const float *restrict rstd,
                          float *restrict scratch) {
  sample_norm_backward_core(x, g, dy, dx, dg, db, T, B, L, C, mean, rstd, scratch);
}

EXPORT(sample_norm_backward_scratch_floats)
int sample_norm_backward_scratch_floats(int B) { return 2 * B + 3; }

// s [T, B, L, C] = LIF over T of x̂·g + bias, V starting at vr; each trial's μ and r go to mean
// and rstd (B floats each, for the backward pass). v: C floats of scratch.
EXPORT(sample_norm_lif_forward)
void sample_norm_lif_forward(const float *restrict x, const float *restrict g,
                             const float *restrict bias, float *restrict s, int T, int B, int L,
                             int C, int ldt, float eps, float *restrict mean,
                             float *restrict rstd, float *restrict v, float k, float omk, float vr,
                             float vth, int soft, int decay, int leakMode) {
  sn_stats(x, T, B, L * C, 1, ldt, eps, mean, rstd);
  for (int b = 0; b < B; b++) {
    const float m = mean[b], r = rstd[b];
    const v128_t m4 = splat4(m), r4 = splat4(r);
    for (int l = 0; l < L; l++) {
      for (int c = 0; c < C; c++) v[c] = vr;
      for (int t = 0; t < T; t++) {
        long off = (long)t * ldt + ((long)b * L + l) * C;
        const float *xr = x + off;
        float *sr = s + off;
        int c = 0;
        for (; c + 4 <= C; c += 4) {
          v128_t hh, vv = wasm_v128_load(v + c);
          v128_t y = sample_affine4(xr + c, g + c, bias + c, m4, r4);
          wasm_v128_store(sr + c, lif_step4(y, &vv, &hh, k, omk, vr, vth, soft, decay, leakMode));
          wasm_v128_store(v + c, vv);
        }
        for (; c < C; c++) {
          float hh, y = sample_xhat(xr[c], m, r) * g[c] + bias[c];
          sr[c] = lif_step(y, &v[c], &hh, k, omk, vr, vth, soft, decay, leakMode);
        }
      }
    }
  }
}

// Scratch floats of sample_norm_lif_backward: H and the membrane gradient of one (b, l) row over
// T, then the norm backward's scratch (the per-trial sums, its unit gain, the discarded dg, db).
EXPORT(sample_norm_lif_backward_scratch_floats)
int sample_norm_lif_backward_scratch_floats(int T, int B, int C) {
  return T * C + C + 2 * B + 3;
}

// Backward of the fused op for the whole [T, B, L, C] array (ldt = B·L·C): ds → dx, dg, dbias.
// dx holds the LIF's dy, then dx̂, then dx (each pass reads an element before writing it).
EXPORT(sample_norm_lif_backward)
void sample_norm_lif_backward(const float *restrict x, const float *restrict g,
                              const float *restrict bias, const float *restrict ds,
                              float *restrict dx, float *restrict dg, float *restrict db, int T,
                              int B, int L, int C, const float *restrict mean,
                              const float *restrict rstd, float *restrict scratch, float k,
                              float omk, float vr, float vth, int soft, int decay, int leakMode,
                              int detachReset, int detachMembrane, int kind, float alpha) {
  const long ldt = (long)B * L * C;
  float *h = scratch, *gv = h + (long)T * C, *sa = gv + C;
  const float cc = 3.14159265358979f * alpha * 0.5f;
  // 1. the LIF's BPTT, row by row: recompute H over T, then run back through it
  for (int b = 0; b < B; b++) {
    const float m = mean[b], r = rstd[b];
    const v128_t m4 = splat4(m), r4 = splat4(r);
    for (int l = 0; l < L; l++) {
      long base = ((long)b * L + l) * C;
      for (int c = 0; c < C; c++) gv[c] = vr; // gv is the membrane V until the BPTT below
      for (int t = 0; t < T; t++) {
        const float *xr = x + t * ldt + base;
        float *ht = h + (long)t * C;
        int c = 0;
        for (; c + 4 <= C; c += 4) {
          v128_t hh, vv = wasm_v128_load(gv + c);
          v128_t y = sample_affine4(xr + c, g + c, bias + c, m4, r4);
          lif_step4(y, &vv, &hh, k, omk, vr, vth, soft, decay, leakMode);
          wasm_v128_store(gv + c, vv);
          wasm_v128_store(ht + c, hh);
        }
        for (; c < C; c++) {
          float y = sample_xhat(xr[c], m, r) * g[c] + bias[c];
          lif_step(y, &gv[c], &ht[c], k, omk, vr, vth, soft, decay, leakMode);
        }
      }
      for (int c = 0; c < C; c++) gv[c] = 0.0f;
      for (int t = T - 1; t >= 0; t--) {
        const float *dr = ds + t * ldt + base, *ht = h + (long)t * C;
        float *o = dx + t * ldt + base;
        int c = 0;
        for (; c + 4 <= C; c += 4) {
          v128_t g4 = wasm_v128_load(gv + c);
          wasm_v128_store(o + c, lif_bwd_step4(wasm_v128_load(dr + c), wasm_v128_load(ht + c),
                                               &g4, k, omk, vr, vth, soft, decay, detachReset,
                                               detachMembrane, kind, alpha, cc));
          wasm_v128_store(gv + c, g4);
        }
        for (; c < C; c++) {
          o[c] = lif_bwd_step(dr[c], ht[c], &gv[c], k, omk, vr, vth, soft, decay, detachReset,
                              detachMembrane, kind, alpha, cc);
        }
      }
    }
  }
  // 2. and 3. the norm's backward, from the LIF's dy in dx
  sample_norm_backward_core(x, g, dx, dx, dg, db, T, B, L, C, mean, rstd, sa);
}
