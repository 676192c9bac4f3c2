// One process of the data-parallel equivalence test (tests/ddp_equivalence.sh):
// trains a tiny DiT on fixed random data with the world the environment gives
// (torchrun's RANK/WORLD_SIZE/... or none), and rank 0 prints the loss of
// every step. Two Gloo processes must print what one process prints.
#include <fmt/core.h>

#include "core/run/cli.hpp"
#include "core/nn/distributed.hpp"
#include "core/diffusion/noise.hpp"
#include "backbones/dit.hpp"
#include "core/train/trainer.hpp"

using namespace ldae;

int main() {
  // Set-up failures (an unreachable peer, a port in use) exit 2 with the reason.
  return guarded_main("ddp_worker", [] {
    torch::set_num_threads(1);
    RunConfig c;
    c.model.depth = 2, c.model.width = 32, c.model.heads = 2;
    c.train.epochs = 2, c.train.batch = 16, c.train.base_lr = 1e-3, c.train.log_every = 1;
    c.train.warmup_epochs = 1, c.train.grad_clip = 1.0;
    c.noise.schedule = "linear_gamma2";
    c.train.bucket_mb = 0.01;  // ~2600 floats: several buckets in flight
    torch::manual_seed(4);
    TrainData d;
    d.z0 = torch::randn({64, 16, 4});  // (N, L, d)
    d.labels = torch::zeros({64}, torch::kLong);
    BackboneOptions o;
    o.in_dim = 4, o.out_dim = 4, o.grid_h = 4, o.grid_w = 4, o.depth = 2, o.width = 32, o.heads = 2;
    torch::manual_seed(11);
    Trainer trainer(c, make_backbone("dit", o), make_schedule(c.noise), torch::kCPU);
    const DistEnv env = dist_env_from_process();
    auto comm = connect_gloo(env);
    trainer.set_communicator(comm);
    auto r = trainer.train(d, "", nullptr, {});
    if (r.status != TrainResult::Done) {
      fmt::print(stderr, "rank {}: training did not finish: {}\n", env.rank, r.error);
      return 1;
    }
    if (env.rank == 0)
      for (const auto& p : r.loss_curve) fmt::print("{} {:.9g}\n", p[0], p[1]);
    if (comm) comm->barrier();
    return 0;
  });
}
