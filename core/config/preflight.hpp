// Checks of a planned run against the size of its data, before any run of a
// sweep starts (issue 14, items 10 and 13): what the config alone cannot say
// (a batch larger than the training set, more kNN neighbours than images, an
// FID over fewer than two test images) is an InputError naming the key, its
// value and the values that would work; a run too short to move the encoder
// from its initialization is a warning.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/config/config.hpp"

namespace ldae {

// Images a run sees after data.subset / data.test_subset.
struct DataSize {
  int64_t train = 0, test = 0;
};

// Fewer optimizer steps than this and the plan warns that the encoder will
// barely leave its initialization (31 steps at the default lr did not move
// the tiny DiT: every row then probes the random encoder).
inline constexpr int64_t kFewSteps = 200;

// Optimizer steps of pre-training (Trainer::total_steps): epochs x max(1, N / batch).
int64_t pretrain_steps(const RunConfig& cfg, int64_t n_train);

// Throws InputError "<where>: key 'K': ..." for the first constraint the
// data size breaks; returns the warnings (empty when none). `where` is the
// row as the plan names it ("file:line: row 2 'label'").
std::vector<std::string> check_against_data(const RunConfig& cfg, DataSize n, const std::string& where);

// The network files a run reads (tokenizer.perceptual_net with a perceptual
// loss, eval.fid_net with FID, objective.align_target with alignment) when
// they name a TorchScript file: InputError "<where>: key 'K': ..." for one
// that is not there, saying how to make or name one. Checked before any run
// (a dry run or a Slurm submission leaves it to the runs).
void check_network_files(const RunConfig& cfg, const std::string& where);

// Whether the run fine-tunes (eval.finetune_epochs > 0, on features other
// than raw pixels).
bool runs_finetuning(const RunConfig& cfg);
// The keys (of key_rows()) starting with one of `prefixes` whose value in
// cfg is not their default, in key order: a stage's keys ("eval.finetune_";
// "eval.sampler", "eval.sample_steps", "eval.fid_") that enter the run id
// and change nothing where the stage is off (check_plan_data warns when no
// run of a sweep uses them).
std::vector<std::string> keys_set_away(const RunConfig& cfg, const std::vector<std::string>& prefixes);

}  // namespace ldae
