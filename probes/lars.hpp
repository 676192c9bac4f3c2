// LARS (You et al. 2017) as MAE's linear probe uses it (facebookresearch/mae,
// util/lars.py): for each parameter with more than one dimension,
//   u = grad + weight_decay * p,  q = eta * ||p|| / ||u||  (1 where either norm is 0),
//   mu = momentum * mu + q * u,   p -= lr * mu;
// parameters of one dimension (biases, norms) take u = grad, q = 1: no
// weight decay and no trust ratio. eta (the trust coefficient) 0.001,
// momentum 0.9, as there.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace ldae {

class Lars {
 public:
  explicit Lars(std::vector<torch::Tensor> params, double weight_decay = 0.0, double momentum = 0.9,
                double trust_coefficient = 0.001);
  void zero_grad();
  // One update at learning rate lr, from the parameters' .grad (skipped where undefined).
  void step(double lr);

 private:
  std::vector<torch::Tensor> params_, mu_;
  double weight_decay_, momentum_, eta_;
};

}  // namespace ldae
