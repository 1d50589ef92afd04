// kernels::ProbeScope: the error path of the deferred CUDA probes (core/kernels.h sync_probes).
// A header of its own so that core/kernels.h (included by every optimizer) stays unchanged.
#pragma once

namespace proxbench::core::kernels {

/// Scope of one optimizer step's deferred probes: its destructor drops what is still pending (an
/// exception left the step half done; the ProbeAcc objects are about to go), so that a later
/// sync_probes never writes into them. Declare it after the step's ProbeAcc storage.
struct ProbeScope {
  ProbeScope() = default;
  ProbeScope(const ProbeScope&) = delete;
  ProbeScope& operator=(const ProbeScope&) = delete;
  ~ProbeScope();
};

}  // namespace proxbench::core::kernels
