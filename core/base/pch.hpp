// Precompiled header for the library and the torch-heavy tests: the LibTorch
// umbrella header dominates compile time, so it is parsed once per target.
#pragma once
#include <torch/torch.h>
#include <Eigen/Dense>
#include <fmt/core.h>
#include <map>
#include <memory>
#include <string>
#include <vector>
