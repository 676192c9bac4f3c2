// Which process a data-parallel run is, from torchrun's or Slurm's environment.
#include <gtest/gtest.h>

#include <map>

#include "core/nn/distributed.hpp"
#include "core/base/errors.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include <mutex>
#include <thread>

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

TEST(Distributed, HalfAnEnvironmentIsAnErrorNamingWhatIsMissing) {
  auto message = [](const std::map<std::string, std::string>& env) {
    try {
      dist_env(env);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"RANK", "0"}}).find("RANK is set but WORLD_SIZE is not; torchrun sets both"), std::string::npos);
  EXPECT_NE(message({{"WORLD_SIZE", "2"}}).find("WORLD_SIZE is set but RANK is not"), std::string::npos);
  // sbatch --ntasks=2 without srun: the batch script's one process.
  EXPECT_NE(message({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}).find("not started by srun"), std::string::npos);
}

namespace {
// A TCP socket bound to a free loopback port (*port), not yet listening; -1 on failure.
int loopback_socket(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET, a.sin_addr.s_addr = htonl(INADDR_LOOPBACK), a.sin_port = 0;
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

// A loopback port free a moment ago (the kernel's pick), for a rendezvous:
// never one another test process of a parallel CTest run chose by pid. 0
// when no socket could be bound.
int free_port() {
  int port = 0;
  const int fd = loopback_socket(&port);
  if (fd >= 0) close(fd);
  return port;
}

// Rank 1 of 2 joining 127.0.0.1:port.
DistEnv joining_rank(int port) {
  DistEnv e;
  e.rank = 1, e.world = 2, e.local_rank = 1, e.master_addr = "127.0.0.1", e.master_port = port;
  e.source = "test";
  return e;
}
}  // namespace

// MASTER_PORT held by another program that accepts and never answers: a
// joining rank says what it waits for and gives up at LDAE_DIST_TIMEOUT_S
// with what to check, instead of waiting in silence.
TEST(Distributed, AJoiningRankWaitsBoundedAndSaysWhatFor) {
  int port = 0;
  const int fd = loopback_socket(&port);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(listen(fd, 8), 0);  // the kernel completes connections; nobody answers
  const DistEnv e = joining_rank(port);
  setenv("LDAE_DIST_TIMEOUT_S", "2", 1);
  testing::internal::CaptureStderr();
  const auto t0 = std::chrono::steady_clock::now();
  std::string what;
  try {
    connect_gloo(e);
  } catch (const InputError& err) {
    what = err.what();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string said = testing::internal::GetCapturedStderr();
  unsetenv("LDAE_DIST_TIMEOUT_S");
  close(fd);
  EXPECT_LT(s, 30.0);
  EXPECT_NE(what.find("rank 1 of 2"), std::string::npos) << what;
  EXPECT_NE(what.find(std::to_string(e.master_port)), std::string::npos) << what;
  EXPECT_NE(said.find("waiting 1 s for the rendezvous at 127.0.0.1:" + std::to_string(e.master_port)),
            std::string::npos) << said;  // it said what it waited for
}

// Nobody listens on MASTER_PORT (rank 0 not started): c10d retries the
// connection, and its retry warnings, which carry a C++ stack, stay out of
// the output; the harness's own words say what to check.
TEST(Distributed, AJoiningRankWithNobodyListeningPrintsNoCppStack) {
  int port = 0;
  const int fd = loopback_socket(&port);
  ASSERT_GE(fd, 0);
  close(fd);  // a port just free: connections are refused
  const DistEnv e = joining_rank(port);
  setenv("LDAE_DIST_TIMEOUT_S", "2", 1);
  testing::internal::CaptureStderr();
  std::string what;
  try {
    connect_gloo(e);
  } catch (const InputError& err) {
    what = err.what();
  }
  const std::string said = testing::internal::GetCapturedStderr();
  unsetenv("LDAE_DIST_TIMEOUT_S");
  EXPECT_NE(what.find(std::to_string(e.master_port)), std::string::npos) << what;
  // Each log entry about this port (a stray helper of the test above may
  // still speak about its own) carries no stack.
  const std::string here = ":" + std::to_string(e.master_port);
  for (size_t at = said.find(here); at != std::string::npos; at = said.find(here, at + 1)) {
    const size_t next = said.find("\n[", at);
    EXPECT_EQ(said.substr(at, next == std::string::npos ? std::string::npos : next - at).find("frame #"),
              std::string::npos) << said;
  }
  EXPECT_EQ(what.find("frame #"), std::string::npos) << what;
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
                     {"SLURM_JOB_NODELIST", "gpu[03-05,07]"}, {"SLURM_STEP_ID", "0"}});
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

TEST(Distributed, LocalAddressOnTheRouteToTheMaster) {
  // One machine: the route to loopback starts at loopback.
  EXPECT_EQ(local_address_towards("127.0.0.1", 29500), "127.0.0.1");
  EXPECT_EQ(local_address_towards("localhost", 29500).rfind("127.", 0), 0u);
  // Two nodes are simulated by tests/ddp_two_nodes.sh; here only the errors.
  try {
    local_address_towards("no-such-host.invalid", 29500);
    FAIL() << "expected an InputError";
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("no-such-host.invalid"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("MASTER_ADDR"), std::string::npos) << err.what();
  }
}

TEST(Distributed, BadValuesAreInputErrors) {
  EXPECT_THROW(dist_env({{"RANK", "2"}, {"WORLD_SIZE", "2"}}), InputError);
  EXPECT_THROW(dist_env({{"RANK", "x"}, {"WORLD_SIZE", "2"}}), InputError);
  EXPECT_THROW(dist_env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "-1"}}), InputError);
}

TEST(Distributed, ShardsCoverEveryRowOnceInWholeBatches) {
  for (int world : {1, 2, 3, 5})
    for (int64_t n : {0, 1, 7, 1024, 5000}) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        auto [b, e] = shard_rows(n, 1024, r, world);
        EXPECT_EQ(b, next) << "n " << n << " world " << world << " rank " << r;
        EXPECT_LE(b, e);
        EXPECT_TRUE(b % 1024 == 0 || b == n);
        next = e;
      }
      EXPECT_EQ(next, n);
    }
}

// Two Gloo ranks as two threads of this process, on loopback.
template <class F>
void two_ranks(int port, F body) {
  std::vector<std::thread> ts;
  std::vector<std::string> errors(2);
  for (int r = 0; r < 2; ++r)
    ts.emplace_back([&, r] {
      try {
        DistEnv e;
        e.rank = r, e.world = 2, e.local_rank = r, e.master_port = port, e.source = "test";
        body(*connect_gloo(e), r);
      } catch (const std::exception& ex) {
        errors[r] = ex.what();
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
}

TEST(Distributed, BucketedReducerAveragesWhatBackwardProduces) {
  // Per rank: a small MLP with an unused layer; rank-dependent data.
  std::vector<std::vector<torch::Tensor>> grads(2);
  std::vector<bool> unused_has_grad(2, true);
  std::vector<size_t> buckets(2);
  auto grads_of = [](int r, bool reduce, std::shared_ptr<Communicator> comm, size_t* nb, bool* unused) {
    static std::mutex rng;  // the global generator: one thread at a time
    std::unique_lock<std::mutex> lock(rng);
    torch::manual_seed(3);
    torch::nn::Sequential net(torch::nn::Linear(6, 32), torch::nn::Tanh(), torch::nn::Linear(32, 5));
    torch::nn::Linear spare(4, 4);  // in the parameter list, never used
    torch::manual_seed(100 + r);
    auto x = torch::randn({8, 6});
    lock.unlock();
    auto params = net->parameters();
    for (auto& p : spare->parameters()) params.push_back(p);
    std::unique_ptr<GradReducer> red;
    // 20 floats per bucket: 4 buckets, launched while backward runs.
    if (reduce) red = std::make_unique<GradReducer>(comm, params, 20 * 4 / 1048576.0);
    auto loss = net->forward(x).pow(2).mean();
    loss.backward();
    if (red) red->finish(), *nb = red->buckets();
    *unused = spare->weight.grad().defined();
    std::vector<torch::Tensor> g;
    for (auto& p : net->parameters()) g.push_back(p.grad().clone());
    return g;
  };
  // Expected: the mean of each rank's gradients, computed alone.
  bool dummy;
  auto g0 = grads_of(0, false, nullptr, nullptr, &dummy), g1 = grads_of(1, false, nullptr, nullptr, &dummy);
  const int port = free_port();
  ASSERT_GT(port, 0) << "no free loopback port";
  two_ranks(port, [&](Communicator& c, int r) {
    std::shared_ptr<Communicator> comm(&c, [](Communicator*) {});
    bool unused = true;
    grads[r] = grads_of(r, true, comm, &buckets[r], &unused);
    unused_has_grad[r] = unused;
  });
  ASSERT_EQ(grads[0].size(), g0.size());
  EXPECT_EQ(buckets[0], 4u);
  for (size_t k = 0; k < g0.size(); ++k) {
    auto want = (g0[k] + g1[k]) / 2;
    EXPECT_TRUE(torch::allclose(grads[0][k], want, 1e-5, 1e-7)) << "param " << k;
    EXPECT_TRUE(torch::allclose(grads[1][k], want, 1e-5, 1e-7)) << "param " << k;
    EXPECT_FALSE(torch::allclose(g0[k], g1[k]));  // the average is not a no-op
  }
  EXPECT_FALSE(unused_has_grad[0]);  // no gradient in, none out (as in one process)
  EXPECT_FALSE(unused_has_grad[1]);
}

TEST(Distributed, BroadcastAndGather) {
  std::vector<int64_t> got(2, -1);
  std::vector<std::vector<torch::Tensor>> gathered(2);
  const int port = free_port();
  ASSERT_GT(port, 0) << "no free loopback port";
  two_ranks(port, [&](Communicator& c, int r) {
    got[r] = c.broadcast(r == 0 ? 42 : -7, 30);
    got[r] += c.broadcast(r == 0 ? 1 : 0, 30);  // a second round: its own key
    gathered[r] = c.gather(torch::full({2, 3}, double(r + 1)));
    auto s = torch::tensor({double(r + 1)}, torch::kFloat64);
    c.sum(s);
    EXPECT_EQ(s.item<double>(), 3.0);
  });
  EXPECT_EQ(got[0], 43);
  EXPECT_EQ(got[1], 43);
  ASSERT_EQ(gathered[0].size(), 2u);
  EXPECT_TRUE(gathered[1].empty());
  EXPECT_EQ(gathered[0][0].sum().item<double>(), 6.0);
  EXPECT_EQ(gathered[0][1].sum().item<double>(), 12.0);
}
