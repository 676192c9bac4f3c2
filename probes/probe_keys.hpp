// The probe.* and eval.* keys (core/config/keys.hpp) and their checks: what
// reads the pre-trained encoder (linear probe, kNN, fine-tuning) and what
// judges its samples (FID). None of them changes the pre-trained model but
// eval.classifier_epochs (the classifier a run may align with).
#pragma once
#include "core/config/keys.hpp"

namespace ldae {

// probe.name's registry: the linear probe (with kNN beside it).
std::vector<std::string> probe_names();
KeyRows probe_keys();  // probe.*: features, block, pooling, t, optimizer, kNN
KeyRows eval_keys();   // eval.*: FID and its sampler, the classifier, fine-tuning
// The probe's block among the backbone's feature points, pooling, t, kNN's
// k against the training set, FID's sample count.
void check_probe(const RunConfig& c, const Fail& fail);

}  // namespace ldae
