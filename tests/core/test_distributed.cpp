// Which process a data-parallel run is, from torchrun's or Slurm's environment.
#include <gtest/gtest.h>

#include "core/distributed.hpp"
#include "core/errors.hpp"

using namespace ldae;

TEST(Distributed, OneProcessWithoutEnvironment) {
  auto e = dist_env({{"HOME", "/root"}});
  EXPECT_EQ(e.world, 1);
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.source, "none");
  EXPECT_EQ(connect_gloo(e), nullptr);
  // srun with one task is one process too.
  EXPECT_EQ(dist_env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}}).world, 1);
}

TEST(Distributed, TorchrunVariables) {
  auto e = dist_env({{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"},
                     {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29411"}});
  EXPECT_EQ(e.source, "torchrun");
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world, 8);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_addr, "node7");
  EXPECT_EQ(e.master_port, 29411);
}

TEST(Distributed, SlurmVariablesAndNodeLists) {
  auto e = dist_env({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                     {"SLURM_JOB_NODELIST", "gpu[03-05,07]"}});
  EXPECT_EQ(e.source, "slurm");
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.world, 8);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_addr, "gpu03");
  EXPECT_EQ(e.master_port, 29500);
  EXPECT_EQ(first_slurm_host("a1,b[1-2]"), "a1");
  EXPECT_EQ(first_slurm_host("node[12]"), "node12");
  EXPECT_EQ(first_slurm_host("solo"), "solo");
}

TEST(Distributed, BadValuesAreInputErrors) {
  EXPECT_THROW(dist_env({{"RANK", "2"}, {"WORLD_SIZE", "2"}}), InputError);
  EXPECT_THROW(dist_env({{"RANK", "x"}, {"WORLD_SIZE", "2"}}), InputError);
  EXPECT_THROW(dist_env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "-1"}}), InputError);
}
