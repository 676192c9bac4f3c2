// train.cuda_graph: the whole training step (noise draw, forward, backward,
// gradient clipping, fused AdamW, EMA) recorded once as a CUDA graph and
// replayed, so a step costs one launch instead of thousands of kernel
// launches from the host. Inputs live in static buffers: the batch's image
// indices (b,) int64 and the learning rate, a 0-dim float32 tensor; both are
// written before each replay. The step's random numbers (t, eps) come from
// the default CUDA generator, which graphs support: reseeded before each
// replay, it draws what an eager step with that seed draws, so resume stays
// exact. Everything runs on a side stream (capture cannot use the default
// one), from construction until destruction, which waits for it.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

namespace ldae {

struct GraphStepInputs {  // what decides whether a run's step can be recorded
  bool cuda = false, baseline_method = false, alignment = false, data_parallel = false,
       resident_data = false;
};

// Why the step cannot be recorded as a graph ("" when it can): recording
// needs a CUDA device, the denoising step without representation alignment,
// one process, and training data resident on the device (no per-step host
// work: augmentation and streaming run on the host).
std::string graph_unsupported(const GraphStepInputs& in);

// Whether recording fits in device memory. While a capture is underway the
// caching allocator keeps the graph's private pool apart from everything
// else, and that pool ends up holding what one eager step allocates beyond
// the memory held between steps (`step_bytes`: the step's activations and
// temporaries, the peak of the eager steps before recording minus what is
// allocated at recording). With `free_bytes` free on the device once its
// cache is emptied, recording fits when step_bytes x 1.1 <= free_bytes.
// Returns "" when it fits, else why not and the per-process batch that would
// fit (batch x free / (1.1 step_bytes), a multiple of 8 when at least 8).
std::string graph_memory_check(uint64_t step_bytes, uint64_t free_bytes, int64_t batch);

class GraphStep {
 public:
  // The step's body: idx_dev (b,) int64 on the device, lr 0-dim float32 on
  // the device, returns the loss (0-dim float32). It must launch the same
  // kernels every call and never read device values on the host.
  using Body = std::function<torch::Tensor(const torch::Tensor& idx_dev, const torch::Tensor& lr)>;
  GraphStep(torch::Device device, int64_t b);
  // Waits for the side stream, restores the caller's stream and empties the
  // allocator's cache: blocks cached on the side stream are not reused by
  // another stream, so an eager fallback would otherwise allocate its
  // activations a second time.
  ~GraphStep();
  GraphStep(const GraphStep&) = delete;
  GraphStep& operator=(const GraphStep&) = delete;
  // Records `body` (nothing runs yet), after emptying the allocator's cache
  // (as torch.cuda.graph does: blocks cached for the eager steps are not
  // reused while a capture runs) and checking that the recording fits
  // (graph_memory_check, from the eager steps' peak since construction).
  // Returns "" or why recording failed or was not tried (the caller then
  // trains eagerly; the weights are untouched).
  std::string capture(const Body& body);
  // One step: the inputs into the static buffers, then the graph. Returns
  // the static loss (valid until the next replay). Call after the step's reseed.
  torch::Tensor replay(const torch::Tensor& idx_dev, double lr);
  bool captured() const { return captured_; }
  // A recording kept between training calls (Trainer::keep_recorded_step):
  // leave() waits for the side stream and gives the caller its own stream
  // back (evaluation between calls then runs where it always does); enter()
  // waits for the caller's queued work (the weights it may have written) and
  // makes the side stream current again. The graph and its pool stay.
  void leave();
  void enter();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool captured_ = false;
};

}  // namespace ldae
