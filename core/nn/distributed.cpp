#include "core/nn/distributed.hpp"

#include <fmt/core.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/util/Logging.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <thread>

#include "core/base/errors.hpp"

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

std::chrono::milliseconds collective_timeout() {
  double s = 1800;
  if (const char* v = std::getenv("LDAE_DIST_TIMEOUT_S")) {
    try {
      s = std::stod(v);
    } catch (const std::exception&) {
      s = -1;
    }
    if (!(s > 0))
      throw InputError(fmt::format("environment LDAE_DIST_TIMEOUT_S='{}': expected seconds > 0", v));
  }
  return std::chrono::milliseconds(int64_t(s * 1000));
}

// The collectives over any c10d process group (Gloo on the CPU; NCCL, the
// same interface, in CUDA builds). Tensors move to the group's device
// (NCCL: this rank's GPU) for the collective and back.
template <class PG>
class PGCommunicator : public Communicator {
 public:
  PGCommunicator(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<PG> pg,
                 const DistEnv& e, std::string backend, torch::Device device)
      : store_(std::move(store)), pg_(std::move(pg)), rank_(e.rank), world_(e.world),
        local_rank_(e.local_rank), backend_(std::move(backend)), device_(device) {}
  int rank() const override { return rank_; }
  int local_rank() const override { return local_rank_; }
  int world() const override { return world_; }
  std::string backend() const override { return backend_; }
  void sum(torch::Tensor& t) override { sum_async(t)(); }
  std::function<void()> sum_async(torch::Tensor& t) override {
    std::vector<torch::Tensor> buf{t.device() == device_ ? t : t.to(device_)};
    auto work = pg_->allreduce(buf);
    if (buf[0].is_same(t)) return [work] { work->wait(); };
    return [work, t, buf]() mutable {
      work->wait();
      t.copy_(buf[0]);
    };
  }
  // Through the rendezvous store, whose waits take a timeout per call.
  int64_t broadcast(int64_t v, double wait_s) override {
    const std::string key = fmt::format("ldae/bcast/{}", bcast_seq_++);
    if (rank_ == 0) {
      const std::string text = std::to_string(v);
      store_->set(key, std::vector<uint8_t>(text.begin(), text.end()));
      return v;
    }
    store_->wait({key}, std::chrono::milliseconds(int64_t(wait_s * 1000)));
    const auto bytes = store_->get(key);
    return std::stoll(std::string(bytes.begin(), bytes.end()));
  }
  std::vector<torch::Tensor> gather(const torch::Tensor& t) override {
    std::vector<torch::Tensor> in{t.to(device_).contiguous()};
    std::vector<std::vector<torch::Tensor>> out(rank_ == 0 ? 1 : 0);
    if (rank_ == 0)
      for (int r = 0; r < world_; ++r) out[0].push_back(torch::empty_like(in[0]));
    c10d::GatherOptions o;
    o.rootRank = 0;
    pg_->gather(out, in, o)->wait();
    if (rank_ != 0) return {};
    for (auto& x : out[0]) x = x.to(t.device());
    return out[0];
  }
  void barrier() override { pg_->barrier()->wait(); }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<PG> pg_;
  int rank_, world_, local_rank_;
  std::string backend_;
  torch::Device device_;
  int64_t bcast_seq_ = 0;
};

// Runs one set-up step of the process group; a failure there (a port in use,
// a peer that cannot be reached, an unknown interface) is the environment's
// fault, so it becomes an InputError that says which step, where and what to
// check instead of an internal error from deep inside c10d or Gloo.
template <class F>
auto setup_step(const DistEnv& e, const std::string& what, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& err) {
    std::string why = err.what();
    while (!why.empty() && (why.back() == '.' || why.back() == '\n')) why.pop_back();
    throw InputError(fmt::format(
        "data parallel ({} rank {} of {}): {} failed: {}. Check that MASTER_ADDR={} and "
        "MASTER_PORT={} name a host and free port every rank can reach, that every rank was "
        "started, and on several nodes that Gloo binds a shared network (GLOO_SOCKET_IFNAME)",
        e.source, e.rank, e.world, what, why, e.master_addr, e.master_port));
  }
}

// The rendezvous: rank 0 serves a TCP store at MASTER_ADDR:MASTER_PORT, the
// others join it. c10d bounds the joining by its timeout, but not a reply
// that never comes (another program holding the port accepts and stays
// silent), so the store is made on a helper thread and this one waits,
// saying after a few seconds what it waits for, and gives up at the set-up
// timeout (LDAE_DIST_TIMEOUT_S) with what to check. A helper still stuck
// then is left behind: the process exits with the error.
c10::intrusive_ptr<c10d::TCPStore> rendezvous(const DistEnv& e) {
  c10d::TCPStoreOptions so;
  so.port = uint16_t(e.master_port);
  so.isServer = e.rank == 0;
  so.numWorkers = e.world;
  const auto limit = collective_timeout();
  so.timeout = limit;
  using Result = c10::intrusive_ptr<c10d::TCPStore>;
  // c10d logs each retry of a joining rank as a warning carrying a C++ stack
  // (15 frames) before our own words; while the store is made only its
  // errors are shown (the level is put back once the store answers).
  const int log_level = FLAGS_caffe2_log_level;
  FLAGS_caffe2_log_level = std::max(log_level, 2);  // 2: ERROR
  auto job = std::make_shared<std::packaged_task<Result()>>([e, so] {
    return setup_step(e, "the rendezvous (TCP store)", [&] { return c10::make_intrusive<c10d::TCPStore>(e.master_addr, so); });
  });
  auto result = job->get_future();
  std::thread([job] { (*job)(); }).detach();
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const clock::duration deadline = limit;  // c10d's own timeout may answer first: either says what to check
  // The first word after 5 s (sooner under a shorter timeout), then at doubling intervals.
  std::chrono::seconds say_at = std::max(std::chrono::seconds(1),
                                         std::min(std::chrono::seconds(5),
                                                  std::chrono::duration_cast<std::chrono::seconds>(limit / 2)));
  for (;;) {
    const clock::duration next = std::min<clock::duration>(say_at, deadline) - (clock::now() - start);
    if (result.wait_for(std::max<clock::duration>(next, std::chrono::milliseconds(1))) == std::future_status::ready) {
      FLAGS_caffe2_log_level = log_level;
      return result.get();  // a failure there is setup_step's InputError
    }
    const auto waited = clock::now() - start;
    const int64_t s = std::chrono::duration_cast<std::chrono::seconds>(waited).count();
    if (waited >= deadline)
      throw InputError(fmt::format(
          "data parallel ({} rank {} of {}): no rendezvous at {}:{} after {} s (LDAE_DIST_TIMEOUT_S = {:g}). {}",
          e.source, e.rank, e.world, e.master_addr, e.master_port, s, limit.count() / 1000.0,
          e.rank == 0 ? "The other ranks did not join: check that every rank was started with the same "
                        "MASTER_ADDR and MASTER_PORT"
                      : "Rank 0 serves it: check that rank 0 runs, and that no other program holds the port "
                        "(`ss -ltnp 'sport = :" + std::to_string(e.master_port) + "'`); choose a free MASTER_PORT"));
    if (waited >= say_at) {
      fmt::print(stderr, "data parallel: rank {} of {} waiting {} s for the rendezvous at {}:{} ({}; gives up after "
                 "{:g} s, LDAE_DIST_TIMEOUT_S)\n", e.rank, e.world, s, e.master_addr, e.master_port,
                 e.rank == 0 ? "the other ranks to join" : "rank 0's TCP store", limit.count() / 1000.0);
      std::fflush(stderr);
      say_at += std::min(say_at, std::chrono::seconds(60));  // 5, 10, 20, 40, 80, 140 s, ...
    }
  }
}

}  // namespace

std::string local_address_towards(const std::string& host, int port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0)
    throw InputError(fmt::format("data parallel: the master address '{}' does not resolve ({}); "
                                 "set MASTER_ADDR to a host name or address every node can reach",
                                 host, gai_strerror(rc)));
  std::string found, why = "no address";
  for (addrinfo* ai = res; ai && found.empty(); ai = ai->ai_next) {
    // Connecting a UDP socket sends nothing: it only asks the kernel for the
    // route, whose source address getsockname then reports.
    const int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* a = local.ss_family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr);
      if (inet_ntop(local.ss_family, a, text, sizeof(text))) found = text;
    } else {
      why = std::strerror(errno);
    }
    close(fd);
  }
  freeaddrinfo(res);
  if (found.empty())
    throw InputError(fmt::format("data parallel: no route from this host to the master '{}' ({}); "
                                 "check MASTER_ADDR, or name the interface with GLOO_SOCKET_IFNAME",
                                 host, why));
  return found;
}

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
  // Half an environment is an error at once (it would be one process, or a
  // rank waiting for peers that never come until the timeout).
  if (has("WORLD_SIZE") != has("RANK")) {
    const char* set = has("RANK") ? "RANK" : "WORLD_SIZE";
    const char* missing = has("RANK") ? "WORLD_SIZE" : "RANK";
    throw InputError(fmt::format("data parallel: {} is set but {} is not; torchrun sets both (with LOCAL_RANK, "
                                 "MASTER_ADDR, MASTER_PORT): start the program with `torchrun --no-python` or "
                                 "unset {}", set, missing, set));
  }
  if (has("WORLD_SIZE") && has("RANK")) {
    e.source = "torchrun";
    e.rank = to_int(env, "RANK");
    e.world = to_int(env, "WORLD_SIZE");
    e.local_rank = has("LOCAL_RANK") ? to_int(env, "LOCAL_RANK") : e.rank;
    if (has("MASTER_ADDR")) e.master_addr = env.at("MASTER_ADDR");
  } else if (has("SLURM_PROCID") && has("SLURM_NTASKS") && to_int(env, "SLURM_NTASKS") > 1) {
    // The batch script of `sbatch --ntasks=N` sees SLURM_NTASKS = N, but
    // only srun starts the N tasks (and gives each its step).
    if (!has("SLURM_STEP_ID") && !has("SLURM_STEPID"))
      throw InputError(fmt::format("data parallel under Slurm: SLURM_NTASKS = {} but this process was not "
                                   "started by srun (no SLURM_STEP_ID), so it would wait alone for {} peers; start "
                                   "it with `srun run_sweep ...` in the batch script, or ask for --ntasks=1",
                                   env.at("SLURM_NTASKS"), to_int(env, "SLURM_NTASKS") - 1));
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
  auto opts = c10d::ProcessGroupGloo::Options::create();
  opts->timeout = collective_timeout();
  // Bind where the peers can reach us: the interface GLOO_SOCKET_IFNAME names
  // (PyTorch's variable), else the address this host routes to the master
  // from (loopback on one machine). Not the host name's address, which on
  // many clusters resolves to 127.0.x.1 and leaves the other nodes knocking
  // on their own loopback (tests/ddp_two_nodes.sh).
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  const std::string where = ifname && *ifname ? fmt::format("interface {}", ifname)
                                              : local_address_towards(e.master_addr, e.master_port);
  opts->devices.push_back(setup_step(e, fmt::format("binding Gloo to {}", where), [&] {
    return ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                             : c10d::ProcessGroupGloo::createDeviceForHostname(where);
  }));
  auto store = rendezvous(e);
  auto pg = setup_step(e, fmt::format("connecting Gloo (bound to {}) to the other ranks", where), [&] {
    return c10::make_intrusive<c10d::ProcessGroupGloo>(store, e.rank, e.world, opts);
  });
  return std::make_shared<PGCommunicator<c10d::ProcessGroupGloo>>(store, pg, e, "gloo", torch::kCPU);
}

std::shared_ptr<Communicator> connect_nccl(const DistEnv& e) {
  if (e.world <= 1) return nullptr;
  const int64_t gpus = int64_t(torch::cuda::device_count());
  if (gpus == 0) throw InputError("data parallel over NCCL: this process sees no GPU");
  const auto index = c10::DeviceIndex(e.local_rank % gpus);
  c10::cuda::set_device(index);  // NCCL's communicator binds to the current GPU
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = collective_timeout();
  auto store = rendezvous(e);
  auto pg = setup_step(e, "creating the NCCL process group", [&] {
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, e.rank, e.world, opts);
  });
  return std::make_shared<PGCommunicator<c10d::ProcessGroupNCCL>>(store, pg, e, "nccl",
                                                                   torch::Device(torch::kCUDA, index));
}

std::shared_ptr<Communicator> connect(const DistEnv& e, bool cuda) {
  return cuda ? connect_nccl(e) : connect_gloo(e);
}

// ---- bucketed, overlapped gradient averaging --------------------------------

GradReducer::GradReducer(std::shared_ptr<Communicator> comm, std::vector<torch::Tensor> params,
                         double bucket_mb)
    : comm_(std::move(comm)), params_(std::move(params)) {
  const size_t n = params_.size();
  bucket_of_.assign(n, 0), offset_.assign(n, 0), got_.assign(n, false);
  const int64_t cap = std::max<int64_t>(1, int64_t(bucket_mb * 1024 * 1024 / 4));  // floats
  std::vector<int64_t> sizes;
  for (size_t k = n; k-- > 0;) {  // reverse: backward's order
    if (!params_[k].requires_grad()) continue;
    if (buckets_.empty() || sizes.back() >= cap) buckets_.emplace_back(), sizes.push_back(0);
    bucket_of_[k] = buckets_.size() - 1;
    offset_[k] = size_t(sizes.back());
    buckets_.back().params.push_back(k);
    sizes.back() += params_[k].numel();
  }
  for (size_t b = 0; b < buckets_.size(); ++b)
    buckets_[b].flat = torch::zeros({sizes[b]}, params_[buckets_[b].params[0]].options().dtype(torch::kFloat32));
  hooks_.assign(n, ~0u);
  for (size_t k = 0; k < n; ++k)
    if (params_[k].requires_grad())
      hooks_[k] = params_[k].register_hook([this, k](const torch::Tensor& g) { on_grad(k, g); });
}

GradReducer::~GradReducer() {
  for (size_t k = 0; k < params_.size(); ++k)
    if (hooks_[k] != ~0u) params_[k].remove_hook(hooks_[k]);
}

void GradReducer::on_grad(size_t k, const torch::Tensor& g) {
  Bucket& b = buckets_[bucket_of_[k]];
  const int64_t n = params_[k].numel();
  b.flat.slice(0, int64_t(offset_[k]), int64_t(offset_[k]) + n).copy_(g.detach().reshape({-1}));
  if (!got_[k]) got_[k] = true, ++b.ready;
  launch_ready();
}

void GradReducer::launch_ready() {
  // In bucket order only, so every rank issues the same sequence of collectives.
  while (next_launch_ < buckets_.size() &&
         buckets_[next_launch_].ready == buckets_[next_launch_].params.size()) {
    Bucket& b = buckets_[next_launch_++];
    b.wait = comm_->sum_async(b.flat);
  }
}

void GradReducer::finish() {
  // Parameters without a gradient this step: their slots count as zeros.
  for (auto& b : buckets_)
    for (size_t k : b.params)
      if (!got_[k]) {
        b.flat.slice(0, int64_t(offset_[k]), int64_t(offset_[k]) + params_[k].numel()).zero_();
        b.ready = b.params.size();
      }
  launch_ready();
  const double inv = 1.0 / comm_->world();
  for (auto& b : buckets_) {
    b.wait();
    b.flat.mul_(inv);
    for (size_t k : b.params) {
      if (!got_[k]) continue;
      auto& p = params_[k];
      auto avg = b.flat.slice(0, int64_t(offset_[k]), int64_t(offset_[k]) + p.numel()).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(avg);
      else p.mutable_grad() = avg.to(p.dtype()).clone();
    }
    b.ready = 0;
    b.wait = nullptr;
  }
  std::fill(got_.begin(), got_.end(), false);
  next_launch_ = 0;
}

std::pair<int64_t, int64_t> shard_rows(int64_t n, int64_t batch, int rank, int world) {
  const int64_t chunks = (n + batch - 1) / batch;
  const int64_t c0 = chunks * rank / world, c1 = chunks * (rank + 1) / world;
  return {std::min(n, c0 * batch), std::min(n, c1 * batch)};
}

}  // namespace ldae
