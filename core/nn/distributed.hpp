// Data parallel over c10d: which process this is (from torchrun's or Slurm's
// environment) and a communicator for averaging gradients. CPU uses
// ProcessGroupGloo over TCP; rank 0 hosts the rendezvous store.
#pragma once
#include <torch/torch.h>

#include <functional>
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
// This host's address on the route to `host` ("10.0.0.5" -> "10.0.0.7" on a
// node of that subnet; "127.0.0.1" -> "127.0.0.1"): what Gloo binds to so
// the other nodes can reach it. InputError if the name does not resolve or
// no route leads there.
std::string local_address_towards(const std::string& host, int port);

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  virtual int local_rank() const = 0;       // rank on this node (GPU index)
  virtual std::string backend() const = 0;  // "gloo" (| "nccl" in CUDA builds)
  // In-place sum of one contiguous tensor across processes. The async form
  // returns a waiter; collectives must be issued in the same order everywhere.
  virtual void sum(torch::Tensor& t) = 0;
  virtual std::function<void()> sum_async(torch::Tensor& t) = 0;
  // Rank 0's value on every rank. `wait_s` bounds the wait (a worker waiting
  // for rank 0 to finish a probe may wait long; a dead rank 0 must not hang
  // it forever).
  virtual int64_t broadcast(int64_t value, double wait_s) = 0;
  // Rank 0 gets every rank's tensor (same shape on every rank) in rank order;
  // other ranks get an empty vector.
  virtual std::vector<torch::Tensor> gather(const torch::Tensor& t) = 0;
  virtual void barrier() = 0;
};
// How long a follower rank waits for rank 0 between collectives (rank 0 may
// be probing, generating or waiting for a busy run); a rank 0 that dies ends
// the wait at once (the store it hosts goes away).
constexpr double kFollowerWaitS = 7 * 24 * 3600.0;

// Connect (blocks until every rank has joined). world == 1 -> nullptr.
// Collectives time out after LDAE_DIST_TIMEOUT_S seconds (default 1800).
// Gloo: CPU tensors. NCCL: this rank's GPU, local_rank modulo the GPUs it
// sees (InputError when it sees none). connect(): NCCL when `cuda`, else Gloo.
std::shared_ptr<Communicator> connect_gloo(const DistEnv& env);
std::shared_ptr<Communicator> connect_nccl(const DistEnv& env);
std::shared_ptr<Communicator> connect(const DistEnv& env, bool cuda);

// Bucketed gradient averaging overlapped with backward (what DDP's reducer
// does): parameters are grouped, in reverse order of registration (the order
// backward produces their gradients), into buckets of about `bucket_mb`; a
// hook on each parameter copies its gradient into the bucket's flat buffer
// and, once a bucket is full, starts its all-reduce while backward goes on.
// Buckets start in a fixed order on every rank. finish() waits for them and
// writes the averages back into .grad. A parameter that got no gradient this
// step keeps none (as in one process); every rank must use the same ones.
class GradReducer {
 public:
  GradReducer(std::shared_ptr<Communicator> comm, std::vector<torch::Tensor> params, double bucket_mb);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;
  void finish();
  size_t buckets() const { return buckets_.size(); }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    torch::Tensor flat;          // (sum of numels,) float32
    size_t ready = 0;
    std::function<void()> wait;  // set once launched
  };
  void on_grad(size_t i, const torch::Tensor& g);
  void launch_ready();

  std::shared_ptr<Communicator> comm_;
  std::vector<torch::Tensor> params_;
  std::vector<unsigned> hooks_;
  std::vector<size_t> bucket_of_, offset_;
  std::vector<bool> got_;
  std::vector<Bucket> buckets_;
  size_t next_launch_ = 0;
};

// Rows [begin, end) of n split over `world` ranks in contiguous, nearly equal
// blocks of whole `batch`-sized chunks: what rank `rank` computes when work
// is sharded.
std::pair<int64_t, int64_t> shard_rows(int64_t n, int64_t batch, int rank, int world);

}  // namespace ldae
