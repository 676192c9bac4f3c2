// The noise.* and objective.* keys (core/config/keys.hpp) and their checks:
// the denoising method's own axes (paper Sec. 4), with generation (FID) and
// representation alignment (REPA), which read them.
#pragma once
#include "core/config/keys.hpp"

namespace ldae {

KeyRows noise_keys();      // noise.*: schedule, T, its sigmas and EDM's log-normal
KeyRows objective_keys();  // objective.*: target, space, input scaling, weights, alignment

// Image-space inputs and targets need a linear tokenizer; the velocity target
// an interpolant; generation a variance-preserving latent model.
void check_objective(const RunConfig& c, const Fail& fail);
// REPA: its block among the backbone's feature points, its target's needs.
void check_alignment(const RunConfig& c, const Fail& fail);

}  // namespace ldae
