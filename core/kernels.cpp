#include "core/kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>

#include "proxbench_build_config.h"  // PROXBENCH_WITH_CUDA
#ifdef PROXBENCH_WITH_CUDA
#include "core/cuda/torch_glue.h"
#endif

namespace proxbench::core::kernels {
namespace {

constexpr int64_t kGrain = 1 << 15;  // coordinates below which one chunk is used

/// Concrete scalar op of a separable built-in spec (core/prox_scalar.h visit_separable); the
/// identity for none / group / custom (those take the two-phase path).
template <class F>
void visit_op(const Regularizer* reg, F&& f) {
  if (!reg) return f(scalar::NoneOp{});
  visit_separable(reg->spec(), [&](auto op) { f(op); });
}

/// True when the fused one-pass path applies (separable built-in op available).
bool fused_separable(const Regularizer* reg) {
  if (!reg) return true;
  return reg->spec().kind != RegKind::GroupL21 && reg->spec().kind != RegKind::Custom;
}

/// Group l2,1 whose groups are contiguous runs of `size` values (rows layout or whole tensor).
bool contiguous_groups(const Regularizer* reg, const torch::Tensor& t, int64_t& size) {
  if (!reg || reg->spec().kind != RegKind::GroupL21) return false;
  const auto l = reg->group_layout();
  if (l == GroupLayout::Whole || t.dim() < 2) {
    size = t.numel();
    return true;
  }
  if (l == GroupLayout::Rows) {
    size = t.size(0) == 0 ? 0 : t.numel() / t.size(0);
    return true;
  }
  return false;
}

template <class T>
T* ptr(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

/// Calls f(k, i0, i1) for each of K chunks in parallel.
template <class F>
void for_chunks(int64_t n, int64_t K, F&& f) {
  if (K <= 1) {
    f(int64_t(0), int64_t(0), n);
    return;
  }
  at::parallel_for(0, K, 1, [&](int64_t kb, int64_t ke) {
    for (int64_t k = kb; k < ke; ++k) f(k, n * k / K, n * (k + 1) / K);
  });
}

constexpr int64_t kTile = 512;  // coordinates per tile (stack buffers stay in L1)
constexpr int kLanes = 8;       // independent partial sums, so the reductions vectorize

/// Probe partials in kLanes lanes (explicit lanes: no reassociation needed to vectorize).
struct Lanes {
  double dth[kLanes] = {}, g2[kLanes] = {}, dmax[kLanes], dmin[kLanes];
  int64_t nnz[kLanes] = {}, small[kLanes] = {}, nnz_aux[kLanes] = {};
  Lanes() {
    for (int l = 0; l < kLanes; ++l) {
      dmax[l] = -std::numeric_limits<double>::infinity();
      dmin[l] = std::numeric_limits<double>::infinity();
    }
  }
  void into(ProbeAcc& acc) const {
    for (int l = 0; l < kLanes; ++l) {
      acc.dtheta_sq += dth[l];
      acc.grad_sq += g2[l];
      acc.dmax = std::max(acc.dmax, dmax[l]);
      acc.dmin = std::min(acc.dmin, dmin[l]);
      acc.nnz += nnz[l];
      acc.n_small += small[l];
      acc.nnz_aux += nnz_aux[l];
    }
  }
};

/// Probe reductions over one tile: old/new θ, g, D, x. Within a tile (≤ kTile values) the sums
/// run in T over kLanes lanes (vectorizable without reassociation); each tile's lane sums are
/// then added in double.
template <bool Theta, class T>
inline void tile_probes(Lanes& L, const T* old, const T* nw, const T* g, const T* D, const T* x, int64_t len,
                        bool count, bool count_aux) {
  T dth[kLanes] = {}, g2[kLanes] = {}, mx[kLanes], mn[kLanes];
  int32_t nz[kLanes] = {}, sm[kLanes] = {};
  for (int l = 0; l < kLanes; ++l) mx[l] = mn[l] = D[0];
  const T small_thr = T(1e-3);
  int64_t j = 0;
  for (; j + kLanes <= len; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const T gv = g[j + l], Dv = D[j + l];
      g2[l] += gv * gv;
      mx[l] = mx[l] > Dv ? mx[l] : Dv;
      mn[l] = mn[l] < Dv ? mn[l] : Dv;
      if constexpr (Theta) {
        const T d = nw[j + l] - old[j + l];
        dth[l] += d * d;
        nz[l] += nw[j + l] != T(0) ? 1 : 0;
        sm[l] += std::fabs(nw[j + l]) <= small_thr ? 1 : 0;
      }
    }
  }
  for (; j < len; ++j) {
    const T gv = g[j], Dv = D[j];
    g2[0] += gv * gv;
    mx[0] = mx[0] > Dv ? mx[0] : Dv;
    mn[0] = mn[0] < Dv ? mn[0] : Dv;
    if constexpr (Theta) {
      const T d = nw[j] - old[j];
      dth[0] += d * d;
      nz[0] += nw[j] != T(0) ? 1 : 0;
      sm[0] += std::fabs(nw[j]) <= small_thr ? 1 : 0;
    }
  }
  for (int l = 0; l < kLanes; ++l) {
    L.g2[l] += double(g2[l]);
    L.dmax[l] = std::max(L.dmax[l], double(mx[l]));
    L.dmin[l] = std::min(L.dmin[l], double(mn[l]));
    if (Theta) {
      L.dth[l] += double(dth[l]);
      if (count) {
        L.nnz[l] += nz[l];
        L.small[l] += sm[l];
      }
    }
  }
  if (Theta && count && count_aux)
    for (j = 0; j < len; ++j) L.nnz_aux[j % kLanes] += x[j] != T(0) ? 1 : 0;
}

// One fused pass of a diagonal step over [i0, i1), tile by tile: the update loop (no reductions,
// no data-dependent stores, so it vectorizes) and then the probe reductions on the tile while it
// is in L1.
template <Mode M, Precond P, bool Probes, class Op, class T>
void diag_range(const Op& op, const DiagStep& s, T* th, const T* g, T* m, T* v, T* aux, T* tau, int64_t i0,
                int64_t i1, ProbeAcc& acc) {
  const DiagCoeffs c = s.c;
  Lanes L;
  alignas(64) T oldb[kTile], Db[kTile], xb[kTile];
  for (int64_t t0 = i0; t0 < i1; t0 += kTile) {
    const int64_t len = std::min(kTile, i1 - t0);
    T* thp = th + t0;
    const T* gp = g + t0;
    T* mp = m + t0;
    T* vp = P == Precond::Identity ? nullptr : v + t0;
    if constexpr (M == Mode::ZTau) {
      T* zp = aux + t0;
      T* tp = tau + t0;
      for (int64_t j = 0; j < len; ++j) {
        T D, x, t;
        diag_update<M, P>(op, c, thp[j], gp[j], mp[j], P == Precond::Identity ? nullptr : vp + j, D, x, t);
        zp[j] = x;
        tp[j] = t;
        Db[j] = D;
      }
      if constexpr (Probes) tile_probes<false>(L, oldb, thp, gp, Db, xb, len, false, false);
    } else {
      for (int64_t j = 0; j < len; ++j) {
        T D, x, t;
        const T old = thp[j];
        thp[j] = diag_update<M, P>(op, c, old, gp[j], mp[j], P == Precond::Identity ? nullptr : vp + j, D, x, t);
        oldb[j] = old;
        Db[j] = D;
        xb[j] = x;
      }
      if (aux) std::copy(xb, xb + len, aux + t0);
      if constexpr (Probes) tile_probes<true>(L, oldb, thp, gp, Db, xb, len, s.count_sparsity, aux != nullptr);
    }
  }
  if constexpr (Probes) L.into(acc);
}

// Phase 3 of the two-phase form: θ ← θ' + ε (x − θ'), x read from aux, probes on θ.
template <bool Probes, class T>
void finish_range(const DiagStep& s, T* th, const T* aux, int64_t i0, int64_t i1, ProbeAcc& acc) {
  const T wd = T(s.c.wd), eps = T(s.c.eps);
  const bool plain = s.c.eps == 1.0 && s.mode != Mode::Subgrad;
  double dth = 0;
  int64_t nnz = 0, small = 0, nnz_aux = 0;
  for (int64_t i = i0; i < i1; ++i) {
    const T old = th[i], x = aux[i];
    const T thw = wd * old;
    const T nw = plain ? x : thw + eps * (x - thw);
    th[i] = nw;
    if constexpr (Probes) {
      double d = double(nw) - double(old);
      dth += d * d;
      if (s.count_sparsity) {
        nnz += nw != T(0);
        small += std::fabs(nw) <= T(1e-3);
        if (s.write_aux) nnz_aux += x != T(0);
      }
    }
  }
  if constexpr (Probes) {
    acc.dtheta_sq += dth;
    acc.nnz += nnz;
    acc.n_small += small;
    acc.nnz_aux += nnz_aux;
  }
}

template <Mode M, Precond P, bool Probes, class Op, class T>
void run_diag(const Op& op, const DiagStep& s, DiagBuffers& b, T* aux, T* tau, ProbePartials& pp) {
  const int64_t n = b.theta.numel();
  T* th = ptr<T>(b.theta);
  const T* g = ptr<T>(b.grad);
  T* m = ptr<T>(b.m);
  T* v = P == Precond::Identity ? nullptr : ptr<T>(b.v);
  const int64_t K = pp.prepare(n);
  for_chunks(n, K, [&](int64_t k, int64_t i0, int64_t i1) {
    diag_range<M, P, Probes>(op, s, th, g, m, v, aux, tau, i0, i1, pp.slot(k));
  });
}

template <class T, class F>
void dispatch_mpp(const DiagStep& s, F&& f) {
  auto with_probes = [&](auto mode, auto pc) {
    if (s.probes)
      f(mode, pc, std::true_type{});
    else
      f(mode, pc, std::false_type{});
  };
  auto with_precond = [&](auto mode) {
    switch (s.precond) {
      case Precond::Identity: return with_probes(mode, std::integral_constant<Precond, Precond::Identity>{});
      case Precond::Ema: return with_probes(mode, std::integral_constant<Precond, Precond::Ema>{});
      case Precond::Sum: return with_probes(mode, std::integral_constant<Precond, Precond::Sum>{});
    }
  };
  switch (s.mode) {
    case Mode::Prox: return with_precond(std::integral_constant<Mode, Mode::Prox>{});
    case Mode::Subgrad: return with_precond(std::integral_constant<Mode, Mode::Subgrad>{});
    case Mode::ZTau: return with_precond(std::integral_constant<Mode, Mode::ZTau>{});
  }
}

void check_buffers(const DiagStep& s, const DiagBuffers& b) {
  auto chk = [&](const torch::Tensor& t, const char* what) {
    if (!t.defined()) return;
    TORCH_CHECK(t.device().is_cpu(), "proxbench fused step: ", what, " must be a CPU tensor (CUDA kernels not built)");
    TORCH_CHECK(t.is_contiguous(), "proxbench fused step: ", what, " must be contiguous");
    TORCH_CHECK(t.scalar_type() == b.theta.scalar_type(), "proxbench fused step: ", what, " has dtype ",
                t.scalar_type(), ", the parameter ", b.theta.scalar_type());
    TORCH_CHECK(t.numel() == b.theta.numel(), "proxbench fused step: ", what, " has ", t.numel(),
                " elements, the parameter ", b.theta.numel());
  };
  chk(b.theta, "parameter");
  chk(b.grad, "gradient");
  chk(b.m, "momentum buffer");
  chk(b.v, "second-moment buffer");
  chk(b.aux, "auxiliary buffer");
  chk(b.tau, "tau buffer");
  TORCH_CHECK(b.theta.scalar_type() == torch::kFloat || b.theta.scalar_type() == torch::kDouble,
              "proxbench fused step: parameters must be float32 or float64, got ", b.theta.scalar_type());
  TORCH_CHECK(s.precond == Precond::Identity || b.v.defined(), "proxbench fused step: missing v buffer");
}

}  // namespace

void ProbeAcc::merge(const ProbeAcc& o) {
  dtheta_sq += o.dtheta_sq;
  grad_sq += o.grad_sq;
  dmax = std::max(dmax, o.dmax);
  dmin = std::min(dmin, o.dmin);
  nnz += o.nnz;
  n_small += o.n_small;
  nnz_aux += o.nnz_aux;
  numel += o.numel;
  e0 += o.e0;
  e1 += o.e1;
  e2 += o.e2;
}

int64_t ProbePartials::prepare(int64_t n, int64_t max_chunks) {
  int64_t K = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), (n + kGrain - 1) / kGrain));
  K = std::max<int64_t>(1, std::min(K, max_chunks));
  if (static_cast<int64_t>(slots_.size()) < K) slots_.resize(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) slots_[static_cast<size_t>(k)] = ProbeAcc{};
  used_ = K;
  return K;
}

void ProbePartials::reduce_into(ProbeAcc& acc) const {
  for (int64_t k = 0; k < used_; ++k) acc.merge(slots_[static_cast<size_t>(k)]);
}

bool needs_two_phase(const Regularizer* reg) { return !fused_separable(reg); }

int64_t diag_step(const DiagStep& s, DiagBuffers& b, ProbePartials& pp, ProbeAcc& acc) {
#ifdef PROXBENCH_WITH_CUDA
  if (b.theta.is_cuda()) return cuda_diag_step(s, b, acc);
#endif
  check_buffers(s, b);
  const int64_t n = b.theta.numel();
  if (s.count_sparsity) acc.numel += n;
  const bool has_reg = s.reg && s.reg->spec().kind != RegKind::None;
  int64_t prox_evals = 0;
  AT_DISPATCH_FLOATING_TYPES(b.theta.scalar_type(), "proxbench_diag_step", [&] {
    using T = scalar_t;
    if (fused_separable(s.reg)) {
      // One pass: moments, preconditioner, prox (or subgradient), probes.
      visit_op(s.reg, [&](auto op) {
        dispatch_mpp<T>(s, [&](auto mode, auto pc, auto probes) {
          constexpr Mode M = decltype(mode)::value;
          if constexpr (M != Mode::ZTau) {
            T* aux = s.write_aux ? ptr<T>(b.aux) : nullptr;
            run_diag<M, decltype(pc)::value, decltype(probes)::value>(op, s, b, aux, static_cast<T*>(nullptr), pp);
          }
        });
      });
      pp.reduce_into(acc);
      prox_evals = (has_reg && s.mode == Mode::Prox) ? 1 : 0;
      return;
    }
    // Two-phase path (group l2,1, plugins).
    TORCH_CHECK(b.aux.defined() && b.tau.defined(), "proxbench fused step: two-phase path needs z and tau buffers");
    DiagStep s1 = s;
    int64_t gsize = 0;
    if (s.mode == Mode::Prox && contiguous_groups(s.reg, b.theta, gsize) && gsize > 0) {
      // Group l2,1 with contiguous groups: per chunk of groups, phase 1 (z, τ into scratch), the
      // group prox, phase 3 (θ, probes) — each group stays in cache between the phases.
      s1.mode = Mode::ZTau;
      const int64_t ng = n / gsize;
      const int64_t K = pp.prepare(n, ng);
      T* th = ptr<T>(b.theta);
      const T* g = ptr<T>(b.grad);
      T* m = ptr<T>(b.m);
      T* v = ptr<T>(b.v);
      T* z = ptr<T>(b.aux);
      T* tau = ptr<T>(b.tau);
      dispatch_mpp<T>(s1, [&](auto, auto pc, auto probes) {
        constexpr Precond P = decltype(pc)::value;
        constexpr bool Pr = decltype(probes)::value;
        for_chunks(ng, K, [&](int64_t k, int64_t g0, int64_t g1) {
          for (int64_t gi = g0; gi < g1; ++gi) {
            const int64_t i0 = gi * gsize, i1 = i0 + gsize;
            diag_range<Mode::ZTau, P, Pr>(scalar::NoneOp{}, s1, th, g, m, P == Precond::Identity ? nullptr : v, z,
                                          tau, i0, i1, pp.slot(k));
            group_l21_prox(z + i0, tau + i0, false, gsize, int64_t(1));
            finish_range<Pr>(s, th, z, i0, i1, pp.slot(k));
          }
        });
      });
      pp.reduce_into(acc);
      prox_evals = 1;
      return;
    }
    torch::Tensor grad_eff = b.grad;
    if (s.mode == Mode::Subgrad) {
      // aux ← r'(θ), then g_eff = g + λ r'(θ) in the tau scratch (the subgradient is not separable).
      s.reg->subgradient(b.theta, b.aux);
      b.tau.copy_(b.grad).add_(b.aux, s.c.sub_lambda);
      DiagBuffers b1 = b;
      b1.grad = b.tau;
      s1.c.sub_lambda = 0;
      dispatch_mpp<T>(s1, [&](auto, auto pc, auto probes) {
        run_diag<Mode::Subgrad, decltype(pc)::value, decltype(probes)::value>(scalar::NoneOp{}, s1, b1,
                                                                               static_cast<T*>(nullptr),
                                                                               static_cast<T*>(nullptr), pp);
      });
      ProbeAcc a;
      pp.reduce_into(a);
      // ‖g_t‖² is the loss gradient's, not ĝ's (rare path: a separate reduction).
      if (s.probes) a.grad_sq = b.grad.to(torch::kDouble).pow(2).sum().item<double>();
      acc.merge(a);
      return;
    }
    s1.mode = Mode::ZTau;
    dispatch_mpp<T>(s1, [&](auto, auto pc, auto probes) {
      run_diag<Mode::ZTau, decltype(pc)::value, decltype(probes)::value>(scalar::NoneOp{}, s1, b, ptr<T>(b.aux),
                                                                         ptr<T>(b.tau), pp);
    });
    pp.reduce_into(acc);
    s.reg->prox_(b.aux, b.tau);
    prox_evals = 1;
    T* th = ptr<T>(b.theta);
    const T* aux = ptr<T>(b.aux);
    const int64_t K = pp.prepare(n);
    for_chunks(n, K, [&](int64_t k, int64_t i0, int64_t i1) {
      if (s.probes)
        finish_range<true>(s, th, aux, i0, i1, pp.slot(k));
      else
        finish_range<false>(s, th, aux, i0, i1, pp.slot(k));
    });
    pp.reduce_into(acc);
  });
  return prox_evals;
}

namespace {
template <bool Probes, class Op, class T>
void sr2_range(const Op& op, T lam_sig, T inv_sigma, T* th, const T* g, T* prev, bool count, int64_t i0, int64_t i1,
               ProbeAcc& acc) {
  double gs = 0, r0 = 0, r1 = 0, s2 = 0, g2 = 0;
  int64_t nnz = 0, small = 0;
  for (int64_t i = i0; i < i1; ++i) {
    const T t = th[i], gi = g[i];
    const T x = op.prox(t - gi * inv_sigma, lam_sig);
    const T s = x - t;
    prev[i] = t;
    th[i] = x;
    gs += double(gi) * double(s);
    r0 += double(op.value(t));
    r1 += double(op.value(x));
    s2 += double(s) * double(s);
    g2 += double(gi) * double(gi);
    if constexpr (Probes) {
      if (count) {
        nnz += x != T(0);
        small += std::fabs(x) <= T(1e-3);
      }
    }
  }
  acc.e0 += gs;
  acc.e1 += r0;
  acc.e2 += r1;
  acc.dtheta_sq += s2;
  acc.grad_sq += g2;
  acc.nnz += nnz;
  acc.n_small += small;
}
}  // namespace

int64_t sr2_trial(const Regularizer* reg, double lambda, double inv_sigma, torch::Tensor& theta,
                  const torch::Tensor& grad, torch::Tensor& prev, torch::Tensor& scratch, bool probes,
                  bool count_sparsity, ProbePartials& pp, ProbeAcc& acc) {
#ifdef PROXBENCH_WITH_CUDA
  if (theta.is_cuda()) return cuda_sr2_trial(reg, lambda, inv_sigma, theta, grad, prev, scratch, probes, count_sparsity, acc);
#endif
  DiagStep chk;
  chk.precond = Precond::Identity;
  DiagBuffers b{theta, grad, torch::Tensor(), torch::Tensor(), prev, scratch};
  check_buffers(chk, b);
  const int64_t n = theta.numel();
  if (count_sparsity) acc.numel += n;
  const bool has_reg = reg && reg->spec().kind != RegKind::None && lambda != 0;
  AT_DISPATCH_FLOATING_TYPES(theta.scalar_type(), "proxbench_sr2_trial", [&] {
    using T = scalar_t;
    T* th = ptr<T>(theta);
    const T* g = ptr<T>(grad);
    T* pv = ptr<T>(prev);
    if (fused_separable(reg)) {
      visit_op(reg, [&](auto op) {
        const int64_t K = pp.prepare(n);
        const T ls = T(lambda * inv_sigma), is = T(inv_sigma);
        for_chunks(n, K, [&](int64_t k, int64_t i0, int64_t i1) {
          if (probes)
            sr2_range<true>(op, ls, is, th, g, pv, count_sparsity, i0, i1, pp.slot(k));
          else
            sr2_range<false>(op, ls, is, th, g, pv, count_sparsity, i0, i1, pp.slot(k));
        });
        pp.reduce_into(acc);
      });
      return;
    }
    // Two-phase: z = θ − g/σ in scratch, virtual prox with τ = λ/σ, then s = x − θ.
    TORCH_CHECK(scratch.defined(), "sr2_trial: scratch buffer required for non-separable regularizers");
    ProbeAcc a;
    a.e1 = reg->value(theta);
    prev.copy_(theta);
    scratch.copy_(theta).add_(grad, -inv_sigma);
    reg->prox_(scratch, torch::full({1}, lambda * inv_sigma, theta.options()));
    a.e2 = reg->value(scratch);
    torch::Tensor s = scratch - theta;  // rare path (group / plugin): temporaries accepted
    a.e0 = (grad.to(torch::kDouble) * s.to(torch::kDouble)).sum().item<double>();
    a.dtheta_sq = s.to(torch::kDouble).pow(2).sum().item<double>();
    a.grad_sq = grad.to(torch::kDouble).pow(2).sum().item<double>();
    theta.copy_(scratch);
    if (probes && count_sparsity) {
      a.nnz = theta.ne(0).sum().item<int64_t>();
      a.n_small = theta.abs().le(1e-3).sum().item<int64_t>();
    }
    acc.merge(a);
  });
  return has_reg ? 1 : 0;
}

void restore(torch::Tensor& theta, const torch::Tensor& prev, bool count, ProbePartials& pp, ProbeAcc& acc) {
#ifdef PROXBENCH_WITH_CUDA
  if (theta.is_cuda()) return cuda_restore(theta, prev, count, acc);
#endif
  const int64_t n = theta.numel();
  AT_DISPATCH_FLOATING_TYPES(theta.scalar_type(), "proxbench_restore", [&] {
    using T = scalar_t;
    T* th = ptr<T>(theta);
    const T* pv = ptr<T>(prev);
    const int64_t K = pp.prepare(n);
    for_chunks(n, K, [&](int64_t k, int64_t i0, int64_t i1) {
      int64_t nnz = 0, small = 0;
      for (int64_t i = i0; i < i1; ++i) {
        const T x = pv[i];
        th[i] = x;
        if (count) {
          nnz += x != T(0);
          small += std::fabs(x) <= T(1e-3);
        }
      }
      pp.slot(k).nnz += nnz;
      pp.slot(k).n_small += small;
    });
    pp.reduce_into(acc);
  });
}

}  // namespace proxbench::core::kernels
