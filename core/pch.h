// Precompiled header for every proxbench target: the heavy, stable third-party includes.
#pragma once
#include <torch/torch.h>
#include <Eigen/Dense>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>
