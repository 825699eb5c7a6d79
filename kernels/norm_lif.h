// The spike norms followed by the LIF as fused ops, and the norm over all channels alone. Included
// by hest_kernels.c after the spike-norm kernels (sn_stats, sn_backward_core) and lif_simd.h.
//
// Two norms (lib/snn/spike_norm.ts):
// - per trial and channel (`spikeNorm`): μ and r per (b, c) over (t, l), y = ((x − μ)·r)·g + bias;
// - per trial over all channels (`sampleSpikeNorm`, norm: "sample"): what it computed as ops was
//   spike_norm_forward on x seen as [T, B, L·C, 1] with a unit gain and zero bias, then TF.js's
//   Multiply by g[c] and Add of bias[c]: x̂ = ((x − μ)·r)·1 + 0 with one μ and r per trial, then
//   y = x̂·g[c] + bias[c]. Its backward was TF.js's gradients of the Add and the Multiply (dbias[c] =
//   Σ dy and dg[c] = Σ dy·x̂ over (t, b, l) in memory order, one float32 sum per channel: the order
//   of TF.js wasm's Sum over the leading axes; dx̂ = dy·g[c]), then the unit-gain norm's backward.
// The kernels here evaluate those float32 expressions in the same order, so their values and
// gradients equal the ops' bit for bit.

// ---------------------------------------------------------------------------------------------
// The normalised input of one (b, l) row of C channels.

// Per-channel μ and r: ((x − μ)·r)·g + bias.
static inline void sn_affine_row(const float *x, const float *m, const float *r, const float *g,
                                 const float *bias, float *y, int C) {
  int c = 0;
  for (; c + 4 <= C; c += 4) {
    v128_t xn = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(x + c), wasm_v128_load(m + c)),
                               wasm_v128_load(r + c));
    wasm_v128_store(y + c, wasm_f32x4_add(wasm_f32x4_mul(xn, wasm_v128_load(g + c)),
                                          wasm_v128_load(bias + c)));
  }
  for (; c < C; c++) y[c] = ((x[c] - m[c]) * r[c]) * g[c] + bias[c];
}

// x̂ of the norm over all channels: of one value, and of four.
static inline float sample_xhat(float x, float m, float r) { return ((x - m) * r) * 1.0f + 0.0f; }

static inline v128_t sample_xhat4(const float *x, v128_t m, v128_t r) {
  return wasm_f32x4_add(
      wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(x), m), r), splat4(1.0f)),
      splat4(0.0f));
}

// The trial's μ and r: x̂·g + bias.
static inline void sample_affine_row(const float *x, float m, float r, const float *g,
                                     const float *bias, float *y, int C) {
  const v128_t m4 = splat4(m), r4 = splat4(r);
  int c = 0;
  for (; c + 4 <= C; c += 4) {
    wasm_v128_store(y + c, wasm_f32x4_add(wasm_f32x4_mul(sample_xhat4(x + c, m4, r4),
                                                         wasm_v128_load(g + c)),
                                          wasm_v128_load(bias + c)));
  }
  for (; c < C; c++) y[c] = sample_xhat(x[c], m, r) * g[c] + bias[c];
}

// The normalised input of row `base` at timestep t into y: per channel (per_trial 0: m and r hold
// C values) or per trial (per_trial 1: m[0] and r[0]).
static inline void norm_row(const float *x, long at, const float *m, const float *r,
                            int per_trial, const float *g, const float *bias, float *y, int C) {
  if (per_trial) sample_affine_row(x + at, m[0], r[0], g, bias, y, C);
  else sn_affine_row(x + at, m, r, g, bias, y, C);
}

// ---------------------------------------------------------------------------------------------
// Norm then LIF, one (b, l) row at a time (a neuron's T inputs lie ldt floats apart).

// Forward: the spikes of row `base` into s, V starting at vr; the normalised input goes through
// s (the LIF step then overwrites it in place). v: C floats.
static inline void norm_lif_row_forward(const float *x, float *s, long ldt, long base, int T,
                                        int C, const float *m, const float *r, int per_trial,
                                        const float *g, const float *bias, float *v,
                                        const lif_params p) {
  for (int c = 0; c < C; c++) v[c] = p.vr;
  for (int t = 0; t < T; t++) {
    long at = (long)t * ldt + base;
    norm_row(x, at, m, r, per_trial, g, bias, s + at, C);
    lif_fwd_row(s + at, v, s + at, 0, C, p);
  }
}

// Backward: recompute H over T (into h, T·C floats: the normalised input, then H in place), then
// BPTT from ds back to dL/dy in dx. v, gv: C floats each.
static inline void norm_lif_row_backward(const float *x, const float *ds, float *dx, long ldt,
                                         long base, int T, int C, const float *m,
                                         const float *r, int per_trial, const float *g,
                                         const float *bias, float *h, float *v, float *gv,
                                         const lif_params p) {
  for (int c = 0; c < C; c++) v[c] = p.vr, gv[c] = 0.0f;
  for (int t = 0; t < T; t++) {
    float *ht = h + (long)t * C;
    norm_row(x, (long)t * ldt + base, m, r, per_trial, g, bias, ht, C);
    lif_fwd_row(ht, v, 0, ht, C, p);
  }
  for (int t = T - 1; t >= 0; t--) {
    long at = (long)t * ldt + base;
    lif_bwd_row(ds + at, h + (long)t * C, dx + at, gv, C, p);
  }
}

// ---------------------------------------------------------------------------------------------
// The per-trial, per-channel norm followed by the LIF.

// s [T, B, L, C] = LIF over T of spike_norm_forward(x), V starting at vr, without storing the
// normalised values. mean, rstd: each trial's μ and r (B·C floats each, written for the backward
// pass); v: C floats of scratch.
EXPORT(spike_norm_lif_forward)
void spike_norm_lif_forward(const float *restrict x, const float *restrict g,
                            const float *restrict bias, float *restrict s, int T, int B, int L,
                            int C, int ldt, float eps, float *restrict mean,
                            float *restrict rstd, float *restrict v, float k, float omk, float vr,
                            float vth, int soft, int decay, int leakMode) {
  const lif_params p = lif_params_of(k, omk, vr, vth, soft, decay, leakMode, 0, 0, 0, 0.0f);
  sn_stats(x, T, B, L, C, ldt, eps, mean, rstd);
  for (int b = 0; b < B; b++) {
    for (int l = 0; l < L; l++) {
      norm_lif_row_forward(x, s, ldt, ((long)b * L + l) * C, T, C, mean + (long)b * C,
                           rstd + (long)b * C, 0, g, bias, v, p);
    }
  }
}

// Backward of the fused pair for B trials (a chunk of a larger array: ldt as spike_norm_forward):
// the LIF BPTT gives dL/dy into dx, then the spike-norm backward turns it into dL/dx in place,
// with dg and db: the same operations as lif_backward followed by spike_norm_backward.
// scratch: 2·B·C + T·C + 2·C floats.
EXPORT(spike_norm_lif_backward)
void spike_norm_lif_backward(const float *restrict x, const float *restrict g,
                             const float *restrict bias, const float *restrict ds,
                             float *restrict dx, float *restrict dg, float *restrict db, int T,
                             int B, int L, int C, int ldt, const float *restrict mean,
                             const float *restrict rstd, float *restrict scratch, float k,
                             float omk, float vr, float vth, int soft, int decay, int leakMode,
                             int detachReset, int detachMembrane, int kind, float alpha) {
  const lif_params p = lif_params_of(k, omk, vr, vth, soft, decay, leakMode, detachReset,
                                     detachMembrane, kind, alpha);
  long BC = (long)B * C;
  float *sa = scratch, *ss = scratch + BC, *h = scratch + 2 * BC;
  float *v = h + (long)T * C, *gv = v + C;
  for (int b = 0; b < B; b++) {
    for (int l = 0; l < L; l++) {
      norm_lif_row_backward(x, ds, dx, ldt, ((long)b * L + l) * C, T, C, mean + (long)b * C,
                            rstd + (long)b * C, 0, g, bias, h, v, gv, p);
    }
  }
  sn_backward_core(x, g, dx, dx, dg, db, T, B, L, C, ldt, mean, rstd, sa, ss);
}

// ---------------------------------------------------------------------------------------------
// The per-trial norm over all channels, alone and followed by the LIF; mean and rstd hold one μ
// and r per trial. The backward passes need the whole array (ldt = B·L·C): dg and db add every
// trial's rows in memory order.

// Its backward from dy (dy and dx may be the same array: each element is read before it is
// written). sa: sample_norm_backward_scratch_floats(B) floats.
static void sample_norm_backward_core(const float *restrict x, const float *restrict g,
                                      const float *dy, float *dx, float *restrict dg,
                                      float *restrict db, int T, int B, int L, int C, long ldt,
                                      const float *restrict mean, const float *restrict rstd,
                                      float *restrict sa) {
  float *ss = sa + B, *unit = ss + B;
  // dbias and dg over the rows in memory order, and dx̂ = dy·g
  for (int c = 0; c < C; c++) dg[c] = 0.0f, db[c] = 0.0f;
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < B; b++) {
      const v128_t m4 = splat4(mean[b]), r4 = splat4(rstd[b]);
      for (long off = (long)t * ldt + (long)b * L * C, end = off + (long)L * C; off < end;
           off += C) {
        int c = 0;
        for (; c + 4 <= C; c += 4) {
          v128_t xh = sample_xhat4(x + off + c, m4, r4);
          v128_t d = wasm_v128_load(dy + off + c);
          wasm_v128_store(db + c, wasm_f32x4_add(wasm_v128_load(db + c), d));
          wasm_v128_store(dg + c, wasm_f32x4_add(wasm_v128_load(dg + c), wasm_f32x4_mul(d, xh)));
          wasm_v128_store(dx + off + c, wasm_f32x4_mul(d, wasm_v128_load(g + c)));
        }
        for (; c < C; c++) {
          float d = dy[off + c];
          db[c] += d;
          dg[c] += d * sample_xhat(x[off + c], mean[b], rstd[b]);
          dx[off + c] = d * g[c];
        }
      }
    }
  }
  // the unit-gain norm's backward of dx̂, the trial seen as one channel of L·C positions
  unit[0] = 1.0f;
  sn_backward_core(x, unit, dx, dx, unit + 1, unit + 2, T, B, L * C, 1, ldt, mean, rstd, sa, ss);
}

EXPORT(sample_norm_backward_scratch_floats)
int sample_norm_backward_scratch_floats(int B) { return 2 * B + 3; }

// y [T, B, L, C] = x̂·g + bias; each trial's μ and r go to mean and rstd (B floats each). The
// arguments of spike_norm_forward.
EXPORT(sample_norm_forward)
void sample_norm_forward(const float *restrict x, const float *restrict g,
                         const float *restrict bias, float *restrict y, int T, int B, int L, int C,
                         int ldt, float eps, float *restrict mean, float *restrict rstd) {
  sn_stats(x, T, B, L * C, 1, ldt, eps, mean, rstd);
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < B; b++) {
      for (long off = (long)t * ldt + (long)b * L * C, end = off + (long)L * C; off < end;
           off += C) {
        sample_affine_row(x + off, mean[b], rstd[b], g, bias, y + off, C);
      }
    }
  }
}

// Its backward: dx, dg, dbias from dy, with the arguments of spike_norm_backward (ldt = B·L·C).
EXPORT(sample_norm_backward)
void sample_norm_backward(const float *restrict x, const float *restrict g,
                          const float *restrict dy, float *restrict dx, float *restrict dg,
                          float *restrict db, int T, int B, int L, int C, int ldt,
                          const float *restrict mean, const float *restrict rstd,
                          float *restrict scratch) {
  sample_norm_backward_core(x, g, dy, dx, dg, db, T, B, L, C, ldt, mean, rstd, scratch);
}

// s [T, B, L, C] = LIF over T of x̂·g + bias, V starting at vr; each trial's μ and r go to mean
// and rstd. v: C floats of scratch.
EXPORT(sample_norm_lif_forward)
void sample_norm_lif_forward(const float *restrict x, const float *restrict g,
                             const float *restrict bias, float *restrict s, int T, int B, int L,
                             int C, int ldt, float eps, float *restrict mean,
                             float *restrict rstd, float *restrict v, float k, float omk, float vr,
                             float vth, int soft, int decay, int leakMode) {
  const lif_params p = lif_params_of(k, omk, vr, vth, soft, decay, leakMode, 0, 0, 0, 0.0f);
  sn_stats(x, T, B, L * C, 1, ldt, eps, mean, rstd);
  for (int b = 0; b < B; b++) {
    for (int l = 0; l < L; l++) {
      norm_lif_row_forward(x, s, ldt, ((long)b * L + l) * C, T, C, mean + b, rstd + b, 1, g,
                           bias, v, p);
    }
  }
}

// Scratch floats of sample_norm_lif_backward: H, the membranes and their gradients of one (b, l)
// row, then the norm backward's.
EXPORT(sample_norm_lif_backward_scratch_floats)
int sample_norm_lif_backward_scratch_floats(int T, int B, int C) {
  return T * C + 2 * C + sample_norm_backward_scratch_floats(B);
}

// Backward of the fused op: ds → dx, dg, dbias. dx holds the LIF's dy, then dx̂, then dx.
EXPORT(sample_norm_lif_backward)
void sample_norm_lif_backward(const float *restrict x, const float *restrict g,
                              const float *restrict bias, const float *restrict ds,
                              float *restrict dx, float *restrict dg, float *restrict db, int T,
                              int B, int L, int C, const float *restrict mean,
                              const float *restrict rstd, float *restrict scratch, float k,
                              float omk, float vr, float vth, int soft, int decay, int leakMode,
                              int detachReset, int detachMembrane, int kind, float alpha) {
  const lif_params p = lif_params_of(k, omk, vr, vth, soft, decay, leakMode, detachReset,
                                     detachMembrane, kind, alpha);
  const long ldt = (long)B * L * C;
  float *h = scratch, *v = h + (long)T * C, *gv = v + C, *sa = gv + C;
  for (int b = 0; b < B; b++) {
    for (int l = 0; l < L; l++) {
      norm_lif_row_backward(x, ds, dx, ldt, ((long)b * L + l) * C, T, C, mean + b, rstd + b, 1,
                            g, bias, h, v, gv, p);
    }
  }
  sample_norm_backward_core(x, g, dx, dx, dg, db, T, B, L, C, ldt, mean, rstd, sa);
}
