// Regularizer: the tensor-level face of a regularizer R(θ) = Σ r(θ_i) (separable) or
// Σ_g ‖θ_g‖₂ (group l2,1). Built-in regularizers are described by a RegSpec, and their tensor
// operations are single fused passes over float32/float64 CPU tensors (no temporaries) built on
// the scalar ops of core/prox_scalar.h. Plugin regularizers subclass and override the virtuals
// (their RegSpec kind is RegKind::Custom).
//
// Registered names (see `proxbench list regularizers`): none, l0, l1, l12, l23, lq, mcp, scad,
// group_l21, binary_quant.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/options.h"
#include "core/prox_scalar.h"
#include "core/registry.h"

namespace proxbench::core {

/// How group l2,1 cuts a parameter tensor into groups.
/// Rows: one group per slice along dim 0 (a Linear weight's output unit, a Conv weight's output
/// channel), contiguous. Columns: one group per index of dim 1 (input features / channels).
/// Whole: the whole tensor is one group. A 1-D tensor under Rows/Columns is one group.
enum class GroupLayout { Rows, Columns, Whole };
/// "rows" | "columns" | "whole" → GroupLayout (throws proxbench::Error otherwise).
GroupLayout parse_group_layout(const std::string& s);
const char* to_string(GroupLayout l);

/// A regularizer R(x) = Σ_i r(x_i) (separable) or Σ_g ‖x_g‖₂ (group_l21), to be multiplied by the
/// global strength λ outside (the optimizers pass τ = α λ / (C + δ), prox-reference.md §0).
///
/// Built-ins are this class with a RegSpec; every tensor operation below is ONE fused pass over
/// contiguous float32/float64 CPU memory (at::parallel_for over raw pointers, no temporaries;
/// a non-contiguous z is made contiguous and copied back). Plugins subclass it with
/// RegKind::Custom and override value / prox_ / subgradient / the flags.
///
/// Flags: convex() for none, l1, group_l21; separable() for all but group_l21; has_subgradient()
/// for all but l0. Subgradients (the smoothing is documented on each op in core/prox_scalar.h):
/// l1 sign(x) (0 at 0); lq-type sign(x)·q·max(|x|, 1e-8)^{q−1} (0 at 0); MCP/SCAD the derivative
/// (0 at 0); W-shaped sign(x)·sign(|x|−1)·q·max(||x|−1|, 1e-8)^{q−1} (0 at ±1, −q at 0);
/// group x_g/‖x_g‖₂ (0 for x_g = 0).
class Regularizer {
 public:
  Regularizer(std::string name, RegSpec spec, nlohmann::json params);
  virtual ~Regularizer() = default;

  const std::string& name() const { return name_; }
  const RegSpec& spec() const { return spec_; }
  /// The parameters it was built with, e.g. {"q": 0.5}; with name() they rebuild it.
  const nlohmann::json& params() const { return params_; }
  /// {"name": ..., <params>}: what checkpoints and spec.json store.
  nlohmann::json to_json() const;

  virtual bool convex() const;
  virtual bool separable() const;
  /// False for l0 (no subgradient exists) — subgradient methods refuse it.
  virtual bool has_subgradient() const;
  GroupLayout group_layout() const { return layout_; }
  void set_group_layout(GroupLayout l) { layout_ = l; }

  /// R(x) accumulated in double (float32 or float64 CPU tensor).
  virtual double value(const torch::Tensor& x) const;
  /// In place: z ← prox_{τ r}(z) per coordinate, τ a tensor of z's shape (per-coordinate, the
  /// diagonal-preconditioner case) or a single-element tensor. Group l2,1 with per-coordinate τ
  /// solves min Σ (x_i − z_i)²/(2τ_i) + ‖x‖₂ per group (prox-reference.md §1(h)).
  /// z: float32/float64 CPU tensor; tau is converted to z's dtype if it differs. Throws
  /// proxbench::Error naming the regularizer and the value if some τ is negative, NaN or inf
  /// (per-coordinate τ is checked inside the same pass, so z is then left partially updated).
  virtual void prox_(torch::Tensor& z, const torch::Tensor& tau) const;
  void prox_(torch::Tensor& z, double tau) const;
  /// out ← an element of ∂R(x) (with the smoothing documented per regularizer); throws for l0.
  virtual void subgradient(const torch::Tensor& x, torch::Tensor& out) const;

 protected:
  std::string name_;
  RegSpec spec_;
  nlohmann::json params_;
  GroupLayout layout_ = GroupLayout::Rows;
};

using RegularizerPtr = std::shared_ptr<const Regularizer>;
using RegularizerRegistry = Registry<RegularizerPtr(const OptionMap&)>;
RegularizerRegistry& regularizer_registry();

/// Builds a registered regularizer; errors name the regularizer, the parameter and the range.
RegularizerPtr make_regularizer(const std::string& name, const OptionMap& params);
/// Rebuilds from to_json().
RegularizerPtr make_regularizer(const nlohmann::json& j);

}  // namespace proxbench::core
