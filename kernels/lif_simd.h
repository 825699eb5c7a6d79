// The LIF step, its BPTT step and the surrogate on four neurons at once, and both steps over a
// row of neurons (four lanes, then the scalar tail). Included by hest_kernels.c after the scalar
// lif_step, lif_bwd_step, surrogate and exp_f32, which these mirror, and lif_params.
//
// Each is the scalar function's float32 expression, operation for operation (separate multiplies
// and adds, never fused, in the exact and the fast build alike), so every lane gets the bits the
// scalar code gives: the kernels below run four neurons per step and a scalar tail, and spikes,
// membranes and gradients do not depend on where a neuron sits. Neurons are independent in the
// LIF, so vectorising across them changes no summation order.

static inline v128_t splat4(float x) { return wasm_f32x4_splat(x); }

// 1.0f where m is all ones, else +0.0f: the spike of a comparison.
static inline v128_t ones_where(v128_t m) { return wasm_v128_and(m, splat4(1.0f)); }

// exp_f32 on four lanes. pmin / pmax are the scalar code's `if (x > 88) x = 88` and
// `if (x < -87) x = -87` (a NaN passes through both); nearest is nearbyintf's round-half-even.
static inline v128_t exp_f32x4_exact(v128_t x) {
  x = wasm_f32x4_pmin(x, splat4(88.0f));
  x = wasm_f32x4_pmax(x, splat4(-87.0f));
  v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, splat4(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, splat4(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, splat4(-2.12194440e-4f)));
#define HORNER(c) p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat4(c))
  v128_t p = splat4(1.9875691500e-4f);
  HORNER(1.3981999507e-3f);
  HORNER(8.3334519073e-3f);
  HORNER(4.1665795894e-2f);
  HORNER(1.6666665459e-1f);
  HORNER(5.0000001201e-1f);
#undef HORNER
  p = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), r), splat4(1.0f));
  v128_t s = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)),
                            23);
  return wasm_f32x4_mul(p, s);
}

// surrogate() on four lanes.
static inline v128_t surrogate4(v128_t x, int kind, float alpha, float c) {
  if (kind == 0) {
    v128_t e = exp_f32x4_exact(wasm_f32x4_neg(wasm_f32x4_mul(x, splat4(alpha))));
    v128_t sg = wasm_f32x4_div(splat4(1.0f), wasm_f32x4_add(splat4(1.0f), e));
    return wasm_f32x4_mul(wasm_f32x4_mul(sg, wasm_f32x4_sub(splat4(1.0f), sg)), splat4(alpha));
  }
  v128_t z = wasm_f32x4_mul(x, splat4(c));
  return wasm_f32x4_div(splat4(alpha * 0.5f),
                        wasm_f32x4_add(splat4(1.0f), wasm_f32x4_mul(z, z)));
}

// lif_step() on four neurons: charge with x (H into *h), fire (returned), reset (*v).
static inline v128_t lif_step4(v128_t x, v128_t *v, v128_t *h, float k, float omk, float vr,
                               float vth, int soft, int decay, int leakMode) {
  v128_t vp = *v;
  v128_t leak = leakMode == 0
                    ? wasm_f32x4_mul(vp, splat4(omk))
                    : wasm_f32x4_sub(vp, wasm_f32x4_mul(wasm_f32x4_sub(vp, splat4(vr)), splat4(k)));
  v128_t hh = wasm_f32x4_add(leak, decay ? wasm_f32x4_mul(x, splat4(k)) : x);
  v128_t sp = ones_where(wasm_f32x4_ge(wasm_f32x4_sub(hh, splat4(vth)), splat4(0.0f)));
  for (int l = 2; l <= soft; l++) {
    v128_t hl = wasm_f32x4_sub(hh, splat4((float)l * vth));
    sp = wasm_f32x4_add(sp, ones_where(wasm_f32x4_ge(hl, splat4(0.0f))));
  }
  *v = soft ? wasm_f32x4_sub(hh, wasm_f32x4_mul(sp, splat4(vth)))
            : wasm_f32x4_add(wasm_f32x4_mul(hh, wasm_f32x4_sub(splat4(1.0f), sp)),
                             wasm_f32x4_mul(sp, splat4(vr)));
  *h = hh;
  return sp;
}

// lif_bwd_step() on four neurons: returns dL/dx[t]; *g carries the membrane gradient back.
static inline v128_t lif_bwd_step4(v128_t dy, v128_t hh, v128_t *g, float k, float omk,
                                   float vr, float vth, int soft, int decay, int detachReset,
                                   int detachMembrane, int kind, float alpha, float c) {
  v128_t hd = wasm_f32x4_sub(hh, splat4(vth));
  v128_t sp = ones_where(wasm_f32x4_ge(hd, splat4(0.0f)));
  v128_t gv = *g;
  v128_t dVdH = soft ? splat4(1.0f) : wasm_f32x4_sub(splat4(1.0f), sp);
  v128_t dVdS = detachReset ? splat4(0.0f) : (soft ? splat4(-vth) : wasm_f32x4_sub(splat4(vr), hh));
  v128_t gS = wasm_f32x4_add(dy, wasm_f32x4_mul(gv, dVdS));
  v128_t gSH = wasm_f32x4_mul(gS, surrogate4(hd, kind, alpha, c));
  for (int l = 2; l <= soft; l++) {
    v128_t hl = wasm_f32x4_sub(hh, splat4((float)l * vth));
    gSH = wasm_f32x4_add(gSH, wasm_f32x4_mul(gS, surrogate4(hl, kind, alpha, c)));
  }
  v128_t gH = wasm_f32x4_add(gSH, wasm_f32x4_mul(gv, dVdH));
  *g = detachMembrane ? splat4(0.0f) : wasm_f32x4_mul(gH, splat4(omk));
  return decay ? wasm_f32x4_mul(gH, splat4(k)) : gH;
}

// One timestep of n neurons in a row: input x, membranes v; the spikes go to s and H to h (either
// may be NULL, and either may be x itself: each element is read before it is written).
static inline void lif_fwd_row(const float *x, float *v, float *s, float *h, int n,
                               const lif_params p) {
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    v128_t vv = wasm_v128_load(v + j), hh;
    v128_t sp = lif_step4(wasm_v128_load(x + j), &vv, &hh, p.k, p.omk, p.vr, p.vth, p.soft,
                          p.decay, p.leakMode);
    wasm_v128_store(v + j, vv);
    if (s) wasm_v128_store(s + j, sp);
    if (h) wasm_v128_store(h + j, hh);
  }
  for (; j < n; j++) {
    float hh;
    float sp = lif_step(x[j], &v[j], &hh, p.k, p.omk, p.vr, p.vth, p.soft, p.decay,
                        p.leakMode);
    if (s) s[j] = sp;
    if (h) h[j] = hh;
  }
}

// One BPTT timestep of n neurons in a row: dx from dy, H (h) and the membrane gradients gv, which
// carry back to the timestep before.
static inline void lif_bwd_row(const float *dy, const float *h, float *dx, float *gv, int n,
                               const lif_params p) {
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    v128_t g4 = wasm_v128_load(gv + j);
    wasm_v128_store(dx + j, lif_bwd_step4(wasm_v128_load(dy + j), wasm_v128_load(h + j), &g4, p.k,
                                          p.omk, p.vr, p.vth, p.soft, p.decay,
                                          p.detachReset, p.detachMembrane, p.kind, p.alpha,
                                          p.c));
    wasm_v128_store(gv + j, g4);
  }
  for (; j < n; j++) {
    dx[j] = lif_bwd_step(dy[j], h[j], &gv[j], p.k, p.omk, p.vr, p.vth, p.soft, p.decay,
                         p.detachReset, p.detachMembrane, p.kind, p.alpha, p.c);
  }
}
