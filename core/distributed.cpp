#include "core/distributed.hpp"

#include <fmt/core.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>

#include "core/errors.hpp"

extern char** environ;

namespace ldae {
namespace {

int to_int(const std::map<std::string, std::string>& env, const std::string& key) {
  const std::string& v = env.at(key);
  try {
    size_t used = 0;
    int x = std::stoi(v, &used);
    if (used == v.size() && x >= 0) return x;
  } catch (const std::exception&) {
  }
  throw InputError(fmt::format("environment {}='{}': expected a non-negative integer", key, v));
}

class GlooCommunicator : public Communicator {
 public:
  explicit GlooCommunicator(const DistEnv& e) : rank_(e.rank), world_(e.world) {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(e.master_port);
    so.isServer = e.rank == 0;
    so.numWorkers = e.world;
    auto store = c10::make_intrusive<c10d::TCPStore>(e.master_addr, so);
    auto opts = c10d::ProcessGroupGloo::Options::create();
    // One machine (loopback rendezvous): bind loopback; else this host's address.
    const bool local = e.master_addr == "127.0.0.1" || e.master_addr == "localhost";
    opts->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                  : c10d::ProcessGroupGloo::createDefaultDevice());
    pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, e.rank, e.world, opts);
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  void average(std::vector<torch::Tensor>& ts) override {
    std::vector<torch::Tensor> flat_in;
    for (auto& t : ts) flat_in.push_back(t.detach().reshape({-1}).to(torch::kFloat32));
    std::vector<torch::Tensor> buf{torch::cat(flat_in)};
    pg_->allreduce(buf)->wait();
    buf[0].div_(world_);
    int64_t off = 0;
    for (auto& t : ts) {
      const int64_t n = t.numel();
      t.copy_(buf[0].slice(0, off, off + n).view(t.sizes()));
      off += n;
    }
  }
  double average(double v) override {
    std::vector<torch::Tensor> buf{torch::tensor({v}, torch::kFloat64)};
    pg_->allreduce(buf)->wait();
    return buf[0].item<double>() / world_;
  }
  void barrier() override { pg_->barrier()->wait(); }

 private:
  int rank_, world_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
};

}  // namespace

std::string first_slurm_host(const std::string& list) {
  // The first entry up to a top-level comma; a bracket expands to its first number.
  const size_t br = list.find('['), comma = list.find(',');
  if (br == std::string::npos || (comma != std::string::npos && comma < br))
    return list.substr(0, comma);
  const size_t end = list.find_first_of(",-]", br + 1);
  return list.substr(0, br) + list.substr(br + 1, end - br - 1);
}

DistEnv dist_env(const std::map<std::string, std::string>& env) {
  DistEnv e;
  auto has = [&](const char* k) { return env.count(k) > 0; };
  if (has("WORLD_SIZE") && has("RANK")) {
    e.source = "torchrun";
    e.rank = to_int(env, "RANK");
    e.world = to_int(env, "WORLD_SIZE");
    e.local_rank = has("LOCAL_RANK") ? to_int(env, "LOCAL_RANK") : e.rank;
    if (has("MASTER_ADDR")) e.master_addr = env.at("MASTER_ADDR");
  } else if (has("SLURM_PROCID") && has("SLURM_NTASKS") && to_int(env, "SLURM_NTASKS") > 1) {
    e.source = "slurm";
    e.rank = to_int(env, "SLURM_PROCID");
    e.world = to_int(env, "SLURM_NTASKS");
    e.local_rank = has("SLURM_LOCALID") ? to_int(env, "SLURM_LOCALID") : 0;
    if (has("SLURM_JOB_NODELIST")) e.master_addr = first_slurm_host(env.at("SLURM_JOB_NODELIST"));
  } else {
    return e;
  }
  if (has("MASTER_PORT")) e.master_port = to_int(env, "MASTER_PORT");
  if (e.world < 1 || e.rank >= e.world)
    throw InputError(fmt::format("data parallel: rank {} is outside world size {} (from {}'s "
                                 "environment)", e.rank, e.world, e.source));
  return e;
}

DistEnv dist_env_from_process() {
  std::map<std::string, std::string> env;
  for (char** p = environ; *p; ++p) {
    std::string kv = *p;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return dist_env(env);
}

std::shared_ptr<Communicator> connect_gloo(const DistEnv& e) {
  if (e.world <= 1) return nullptr;
  return std::make_shared<GlooCommunicator>(e);
}

}  // namespace ldae
