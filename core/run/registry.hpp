// Every registry of the harness, one per axis, each a literal map in its
// axis' folder (STYLE.md rule 3), keyed by the exact strings of sweep files.
// Names stored in the results database are frozen: add new names, never
// repurpose old ones.
//   data.name        core/data/registry.cpp        dataset_names, load_registered_dataset
//   tokenizer.name   tokenizers/registry.cpp       tokenizer_names, make_tokenizer
//   noise.schedule   core/diffusion/registry.cpp   schedule_names, make_schedule
//   objective.target core/diffusion/registry.cpp   target_names, parse_target
//   eval.sampler     core/diffusion/registry.cpp   sampler_names
//   model.backbone   backbones/registry.cpp        backbone_names, make_backbone
//   method.name      methods/registry.cpp          method_names, make_method
//   probe.name       probes/probe_keys.cpp         probe_names
// This header gathers them for the programs and the run's stages.
#pragma once
#include "backbones/backbone.hpp"
#include "core/data/data.hpp"
#include "core/diffusion/noise.hpp"
#include "core/diffusion/objective.hpp"
#include "core/diffusion/sampler.hpp"
#include "methods/method.hpp"
#include "probes/probe_keys.hpp"
#include "tokenizers/tokenizer.hpp"
