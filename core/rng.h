// The process-wide lock of LibTorch's global random generator (runs in parallel threads).
#pragma once
#include <mutex>

namespace proxbench::core {

/// LibTorch's global CPU generator is one per process: `torch::manual_seed(s)` followed by the draws
/// of a model's constructor gives the same weights only if no other thread seeds or draws in
/// between. Runs in parallel threads (`proxbench run --jobs`, `reproduce`'s default) therefore hold
/// this mutex around every seeding of, and every draw from, the global generator (the runner's
/// seed, a problem's model construction, a checkpoint's restore); draws during training come from
/// per-problem generators instead (the hard-concrete gates of problems/classification.cpp).
std::mutex& global_rng_mutex();

}  // namespace proxbench::core
