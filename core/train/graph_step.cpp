#include "core/train/graph_step.hpp"

#include <fmt/core.h>

#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

namespace ldae {

std::string graph_unsupported(const GraphStepInputs& in) {
  if (!in.cuda) return "it needs train.device = \"cuda\"";
  if (in.baseline_method) return "baseline methods draw their views on the host";
  if (in.alignment) return "representation alignment computes its targets on the host";
  if (in.data_parallel) return "data-parallel gradient buckets are reduced from hooks as backward runs";
  if (!in.resident_data) return "the training data are streamed or augmented on the host";
  return "";
}

std::string graph_memory_check(uint64_t step_bytes, uint64_t free_bytes, int64_t batch) {
  const double need = 1.1 * double(step_bytes);
  if (need <= double(free_bytes)) return "";
  constexpr double GiB = 1024.0 * 1024.0 * 1024.0;
  int64_t fits = int64_t(double(batch) * double(free_bytes) / need);
  if (fits >= 8) fits -= fits % 8;
  return fmt::format("recording needs about {:.1f} GiB for the step's activations (what an eager step of batch {} "
                     "allocated beyond the weights and optimizer state), and {:.1f} GiB are free: a per-process "
                     "batch of {} would fit (train.batch / processes), or train eagerly (train.cuda_graph = false)",
                     need / GiB, batch, double(free_bytes) / GiB, fits);
}

struct GraphStep::Impl {
  explicit Impl(torch::Device d)
      : device(d), stream(c10::cuda::getStreamFromPool(false, d.has_index() ? d.index() : c10::cuda::current_device())) {}
  torch::Device device;
  c10::cuda::CUDAStream stream;
  std::unique_ptr<c10::cuda::CUDAStreamGuard> guard;
  at::cuda::CUDAGraph graph;
  torch::Tensor idx, lr, loss;  // static input and output buffers
  int64_t b = 0;                // this process's batch
};

GraphStep::GraphStep(torch::Device device, int64_t b) : impl_(std::make_unique<Impl>(device)) {
  // The side stream starts after everything queued so far (weights, data).
  torch::cuda::synchronize();
  impl_->guard = std::make_unique<c10::cuda::CUDAStreamGuard>(impl_->stream);
  impl_->b = b;
  // The eager steps before recording set the peak graph_memory_check reads.
  c10::cuda::CUDACachingAllocator::resetPeakStats(impl_->stream.device_index());
  const auto on_dev = torch::TensorOptions().device(device);
  impl_->idx = torch::zeros({b}, on_dev.dtype(torch::kLong));
  impl_->lr = torch::zeros({}, on_dev.dtype(torch::kFloat32));
}

GraphStep::~GraphStep() {
  try {
    impl_->stream.synchronize();  // the caller's stream then sees the finished weights
  } catch (const std::exception& e) {  // never throw while a failed step unwinds
    TORCH_WARN("train.cuda_graph: waiting for the step's stream failed: ", e.what());
  }
  impl_->guard.reset();
  c10::cuda::CUDACachingAllocator::emptyCache();  // the side stream's blocks, back for any stream
}

void GraphStep::leave() {
  impl_->stream.synchronize();
  impl_->guard.reset();
}

void GraphStep::enter() {
  if (impl_->guard) return;
  torch::cuda::synchronize();
  impl_->guard = std::make_unique<c10::cuda::CUDAStreamGuard>(impl_->stream);
}

namespace {
// After a recording that failed part-way, put back what capture_begin
// changed, so the process trains eagerly (LibTorch's own reset() does not
// when capture_end never completed): the stream leaves capture mode, the
// caching allocator stops routing this stream to the graph's pool and frees
// it, and the default generator, left in capture mode, gets a fresh state
// (the next step's torch::manual_seed seeds it).
void undo_failed_capture(c10::cuda::CUDAStream stream, c10::DeviceIndex dev, c10::cuda::MempoolId_t pool) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream.stream(), &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
    cudaGraph_t partial = nullptr;
    if (cudaStreamEndCapture(stream.stream(), &partial) == cudaSuccess && partial) cudaGraphDestroy(partial);
  }
  (void)cudaGetLastError();  // the capture's error is not the context's
  try {
    c10::cuda::CUDACachingAllocator::endAllocateToPool(dev, pool);
    c10::cuda::CUDACachingAllocator::releasePool(dev, pool);
  } catch (const std::exception&) {  // capture_end got that far itself
  }
  const auto& gen = at::cuda::detail::getDefaultCUDAGenerator(dev);
  gen.get<at::CUDAGeneratorImpl>()->graphsafe_set_state(c10::make_intrusive<at::CUDAGeneratorImpl>(dev));
}
}  // namespace

std::string GraphStep::capture(const Body& body) {
  impl_->stream.synchronize();
  const c10::DeviceIndex dev = impl_->stream.device_index();
  const auto& bytes = c10::cuda::CUDACachingAllocator::getDeviceStats(dev).allocated_bytes[static_cast<size_t>(
      c10::CachingAllocator::StatType::AGGREGATE)];
  const uint64_t step_bytes = uint64_t(std::max<int64_t>(0, bytes.peak - bytes.current));
  torch::cuda::synchronize();
  c10::cuda::CUDACachingAllocator::emptyCache();
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
    if (auto why = graph_memory_check(step_bytes, free_bytes, impl_->b); !why.empty()) return why;
  }
  const auto pool = at::cuda::graph_pool_handle();
  try {
    // t and eps come from the default CUDA generator: registered, its draws
    // inside the graph advance from the seed and offset it holds at each
    // replay (LibTorch 2.11 registers it on its own too; twice is harmless).
    impl_->graph.register_generator_state(at::cuda::detail::getDefaultCUDAGenerator(dev));
    impl_->graph.capture_begin(pool);
    impl_->loss = body(impl_->idx, impl_->lr);
    impl_->graph.capture_end();
  } catch (const std::exception& e) {
    std::string what = e.what();
    undo_failed_capture(impl_->stream, dev, pool);
    impl_->loss = torch::Tensor();
    return what.substr(0, what.find('\n'));
  }
  captured_ = true;
  return "";
}

torch::Tensor GraphStep::replay(const torch::Tensor& idx_dev, double lr) {
  impl_->idx.copy_(idx_dev, /*non_blocking=*/true);
  impl_->lr.fill_(lr);
  impl_->graph.replay();
  return impl_->loss;
}

}  // namespace ldae
