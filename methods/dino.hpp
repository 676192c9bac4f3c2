// DINO (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision
// Transformers", Alg. 1). Multi-crop: 2 global views (scale 0.4..1) and
// dino.local_crops local views (scale 0.05..0.4) of each image; the student
// (the backbone's encoder, pooled, then the DINO head) sees them all, the
// teacher (an EMA of the student, no gradient) the global ones. Head: MLP
// W -> hidden -> hidden -> bottleneck (GELU), l2-normalised, then a
// weight-normalised linear layer to K = dino.out_dim prototypes with unit
// norm (DINO's norm_last_layer). With P_s = softmax(s / tau_s) and the
// centred, sharpened teacher P_t = softmax((t - c) / tau_t), the loss is
//   mean over pairs (global i, view v != i) of  -sum_k P_t,i log P_s,v,
// and after each step the centre c <- m_c c + (1 - m_c) mean_batch(t)
// (m_c = dino.center_m) and the teacher theta_t <- m theta_t + (1 - m)
// theta_s, m on a cosine from dino.m to 1. tau_t warms up linearly from
// dino.warmup_teacher_temp to dino.teacher_temp over
// dino.warmup_teacher_temp_epochs epochs; tau_s = dino.student_temp.
// Evaluation reads the teacher, as DINO's. Local views are cut at
// dino.local_size (the paper profiles: 112 px, DINO's 96 of 224; 0 = the
// global side, the tiny profile's), and dino.freeze_last_layer keeps the
// last layer frozen for that many epochs (DINO's 1 at the paper profiles).
// dino.drop_path is the student's stochastic depth (DINO's 0.1); its
// cosine's floor (min_lr 1e-6) is train.min_lr.
#pragma once
#include "methods/method.hpp"

namespace ldae {

// DINO's keys (dino.*, read only when method.name = "dino").
struct DinoConfig {
  static constexpr const char* kSection = "dino";
  int local_crops = 6;           // local views beside the 2 global ones
  // The local views' side in pixels (main_dino.py: 96 of 224, 6 x 6
  // patches); 0 = resized to the global side. Needs model.name = "dit",
  // whose positions are resized to the local grid.
  int local_size = 0;
  int out_dim = 65536;           // prototypes K of the head
  int hidden = 2048;             // head MLP hidden width
  int bottleneck = 256;          // head bottleneck before the prototypes
  double m = 0.996;              // teacher momentum at step 0, to 1 on a cosine schedule
  double teacher_temp = 0.04;    // after the warm-up
  double warmup_teacher_temp = 0.04;  // at step 0, linear to teacher_temp
  double warmup_teacher_temp_epochs = 0;  // epochs of that warm-up
  double student_temp = 0.1;
  double center_m = 0.9;         // teacher centre: c <- m c + (1 - m) mean
  // Colour jitter's saturation and hue and the grayscale probability of
  // every crop (main_dino.py: 0.2, 0.1, 0.2); 0 = off (grey images need none).
  double saturation = 0.0, hue = 0.0, grayscale_p = 0.0;
  // "fixed": brightness, contrast, saturation, hue; "random": each image its
  // own order, as torchvision's ColorJitter (the official views).
  std::string jitter_order = "fixed";
  // Epochs at the start during which the prototype layer gets no gradient
  // (main_dino.py --freeze_last_layer, 1: "helps optimization"); 0 = none.
  int freeze_last_layer = 0;
  // The student's stochastic depth (main_dino.py --drop_path_rate, 0.1),
  // rising linearly over the encoder's blocks; the teacher has none. dit only.
  double drop_path = 0;
};
// The registry line's entry: Dino and its dino.* keys.
MethodEntry dino_method();

// DINO's projection head (B, W) -> (B, K).
struct DinoHeadImpl : torch::nn::Module {
  DinoHeadImpl(int64_t in, int64_t hidden, int64_t bottleneck, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  void init_weights();
  torch::nn::Sequential mlp{nullptr};
  torch::Tensor prototypes;  // (K, bottleneck), rows normalised in forward
};
TORCH_MODULE(DinoHead);

// The DINO loss of student outputs s[v] (B, K) for every view and teacher
// outputs t[i] (B, K) for the global views (the first t.size() of s), centre
// c (1, K), temperatures tau_s, tau_t: mean over pairs v != i of
// mean_batch -sum_k softmax((t_i - c) / tau_t) log_softmax(s_v / tau_s).
torch::Tensor dino_loss(const std::vector<torch::Tensor>& s, const std::vector<torch::Tensor>& t,
                        const torch::Tensor& center, double tau_s, double tau_t);
// The centre's update: m c + (1 - m) batch_mean, batch_mean (1, K) the mean
// of every teacher output of the step (data parallel: over every rank).
torch::Tensor dino_center(const torch::Tensor& center, const torch::Tensor& batch_mean, double m);

class DinoImpl : public MethodImpl {
 public:
  // local_grid: the local views' token grid side (dino.local_size /
  // tokenizer.patch), for the step's multiply-adds; 0 = the global grid.
  DinoImpl(const DinoConfig& cfg, MethodContext ctx, int64_t local_grid = 0);
  torch::Tensor loss(Backbone& model, const torch::Tensor& idx, int64_t step) override;
  void after_step(Backbone& model, int64_t step) override;
  void finish(Backbone& model) override;
  double train_macs_per_image(const BackboneImpl& model) const override;
  double teacher_temp(int64_t step) const;  // the warm-up, per epoch as DINO's
  torch::Tensor center() const { return center_; }

 private:
  DinoConfig cfg_;
  DinoHead head_{nullptr}, teacher_head_{nullptr};
  Backbone teacher_{nullptr};
  torch::Tensor center_;                 // (1, K) buffer
  std::vector<torch::Tensor> last_t_;    // this step's teacher outputs, for the centre
  bool started_ = false;
  int64_t local_grid_ = 0;
};
TORCH_MODULE(Dino);

}  // namespace ldae
