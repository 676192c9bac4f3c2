// Data parallel over c10d: which process this is (from torchrun's or Slurm's
// environment) and a communicator for averaging gradients. CPU uses
// ProcessGroupGloo over TCP; rank 0 hosts the rendezvous store.
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ldae {

struct DistEnv {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source = "none";  // "torchrun", "slurm" or "none" (one process)
};

// torchrun --no-python sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT; under srun: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID and the
// first host of SLURM_JOB_NODELIST (MASTER_PORT still honoured). InputError
// for inconsistent values.
DistEnv dist_env(const std::map<std::string, std::string>& env);
DistEnv dist_env_from_process();
// The first host of a Slurm node list: "gpu[03-05,07],cpu1" -> "gpu03".
std::string first_slurm_host(const std::string& nodelist);

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // Average tensors across processes in place (one flattened buffer: a single
  // bucket, one all-reduce per step).
  virtual void average(std::vector<torch::Tensor>& tensors) = 0;
  virtual double average(double value) = 0;
  virtual void barrier() = 0;
};
// Connect (blocks until every rank has joined). world == 1 -> nullptr.
std::shared_ptr<Communicator> connect_gloo(const DistEnv& env);

}  // namespace ldae
