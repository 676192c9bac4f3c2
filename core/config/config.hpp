// The typed run configuration. A run = defaults <- sweep base <- profile <- row
// <- --set, each layer a flat map of "section.key" -> value with its origin.
// Nothing downstream reads raw TOML: programs hold a RunConfig.
#pragma once
#include <any>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/base/errors.hpp"

namespace ldae {

// A value as written in a sweep file or on the command line.
using Value = std::variant<bool, int64_t, double, std::string>;
std::string value_str(const Value& v);  // TOML spelling: 3, 0.5, true, "x"
// For people (errors, listings): reals as their shortest round-trip form
// (0.7, not value_str's 0.69999999999999996), the rest as value_str.
// Never in ids or canonical text.
std::string value_shown(const Value& v);

struct DataConfig {
  std::string name = "fashion_mnist";  // registry: dataset_names()
  std::string path = "";               // "" = the dataset's default location
  int pad = 2;                         // zero-pad each side: 28 -> 32
  int subset = 0;                      // training images used; 0 = all
  std::string subset_mode = "first";   // "first" N or a seeded "random" sample
  int test_subset = 0;                 // test images used; 0 = all
  bool normalize = true;               // uint8 -> [-1, 1] (else [0, 1])
  int synthetic_classes = 10;          // synthetic only
  int synthetic_size = 16;             // synthetic only: image side
  int synthetic_train = 1024;          // synthetic only
  int synthetic_test = 256;            // synthetic only
  int resolution = 0;                  // resize to this side after padding; 0 = keep
                                       // (image_folder: shorter side resized, centre crop)
  std::string augment = "center";      // center (paper default) | rrc_flip (Sec. 5)
  bool skip_bad = false;               // image_folder: skip and count unreadable files
  // A prepared folder is held in memory when both splits as float32 take at
  // most this many GiB; larger ones are read from the store per batch.
  double resident_max_gb = 4.0;
  // image_folder: decode large JPEGs at libjpeg-turbo's reduced DCT scale
  // (m/8, the smallest keeping the shorter side >= data.resolution) before
  // the antialiased resize: 1.6x the preparation rate on 800-1400 px photos
  // here, none at ImageNet's typical 500 px (docs/benchmarks.md); other pixels.
  bool jpeg_draft = false;
  // image_folder: keep each image whole in the prepared store (shorter side
  // at data.resolution), so every random resized crop (data.augment,
  // probe.augment, fine-tuning, the baselines' views) is cut from the whole
  // image and resized bicubic, as torchvision's RandomResizedCrop in the
  // official recipes (MAE, MoCo v3, DINO), not from its centre square.
  // Centre-crop reads see the same pixels either way.
  bool whole_images = false;
  // image_folder: how the shorter side reaches data.resolution in the
  // prepared store: "bilinear" (one antialiased bilinear resize) or "dit"
  // (DiT's center_crop_arr: Pillow BOX halvings, then Pillow BICUBIC, to the
  // byte; core/data/data.hpp ResizeRule). Other pixels, its own store.
  std::string resize = "bilinear";
  // image_folder with data.whole_images: where random resized crops are cut
  // from: "store" (the whole image as prepared, shorter side at
  // data.resolution) or "files" (the original file, decoded for every crop,
  // as the official recipes' loaders do; core/data/source_files.hpp).
  std::string crops_from = "store";
  // The prepared data's content fingerprint (dataset_fingerprint), set by
  // run_sweep for a user's data (data_needs_fingerprint), so a run's id, its
  // tokenizer and its trained model differ whenever the data do. "" otherwise.
  std::string fingerprint = "";
};

struct TokenizerConfig {
  std::string name = "patch_pca";  // registry: tokenizer_names()
  int patch = 4;                   // token side in image pixels; D = patch^2 x C
  int d = 8;                       // latent dimension per token (pca)
  int fit_patches = 100000;        // randomly sampled patches for the PCA fit
  bool scale = true;               // divide latents by one scalar so var ~ 1
  // Learned tokenizers (patch_ae, patch_vae, conv_vae), fitted by AdamW:
  int steps = 1500;                 // gradient steps
  int batch = 128;
  double lr = 1e-3;
  double kl_weight = 1e-4;          // patch_vae, conv_vae: weight of KL(q(z|x) || N(0, I))
  int downsample = 8;               // conv_vae: image pixels per latent pixel (power of 2)
  int width = 32;                   // conv_vae: channels of the first conv stage
  double perceptual_weight = 0.0;   // conv_vae: 0 = off (the VQGAN baseline uses one)
  std::string perceptual_net = "classifier";  // "classifier" (trained here) | TorchScript .pt
  double adv_weight = 0.0;          // conv_vae: hinge GAN loss with a patch discriminator
  int adv_start = 500;              // steps before the adversarial loss switches on
  // false: one fit (from seed 0) shared by every seed of a row, so seeds vary
  // only the denoiser; true: seed s fits its own tokenizer from s, so a row's
  // std also counts the tokenizer's fitting noise (rows that differ only in
  // their tokenizer need this to tell a difference from noise).
  bool per_seed = false;
};

struct NoiseConfig {
  std::string schedule = "ddpm_linear";  // registry: schedule_names()
  int T = 1000;                          // discrete steps; t in {1..T}
  double sigma = 0.5773502691896258;     // single_sigma: sqrt(1/3)
  double sigma_max = 1.4142135623730951; // linear_sigma: sqrt(2)
  double p_mean = -1.2;                  // edm_lognormal: mean of ln sigma (EDM)
  double p_std = 1.2;                    // edm_lognormal: std of ln sigma (EDM)
};

struct ObjectiveConfig {
  std::string target = "eps";   // registry: target_names()
  std::string space = "latent"; // network input/output space: latent | image
  bool input_scaling = true;    // false: z_t = z0 + sigma eps, w = 1/(1+s^2)
  double beyond_weight = 0.1;   // original_image: w_i for i > d
  // DiT's learned variance (learn_sigma): the network also outputs, per
  // latent channel, where its log variance lies between the posterior's and
  // beta_t's, trained by the VLB term (core/diffusion/learned_variance.hpp).
  bool learn_sigma = false;
  // Representation alignment (REPA, core/diffusion/alignment.hpp): 0 = off.
  double align_weight = 0.0;
  int align_block = -1;          // feature point aligned; -1 = the probe's default
  std::string align_target = "ema";  // ema (label-free) | classifier (labels) | TorchScript .pt
  // The projector's hidden width; 0 = 4 x the aligned width (what recorded
  // runs used). REPA (models/sit.py build_mlp): 2048.
  int align_hidden = 0;
};

struct ModelConfig {
  std::string name = "dit";       // model.backbone (alias of model.name): backbone_names()
  std::string preset = "tiny";    // tiny | S | B | L | XL (DiT sizes)
  int patch = 1;                  // tokens grouped p x p on the token grid
  int depth = 0, width = 0, heads = 0;  // 0 = from the preset
  int split = -1;                 // the probe's default feature point; -1 = the backbone's
                                  // (dit depth / 2, uvit after the middle, unet the middle)
  double t_mlp_ratio = 1.0;       // t-MLP hidden = width x ratio (l-DAE: 0.25)
  double mlp_ratio = 4.0;
  bool class_cond = false;
  double class_dropout = 0.1;
  bool cls_token = false;         // dit, uvit: a learned class token (ViT) for probe.pool = cls
  // U-ViT's official options (baofff/U-ViT libs/uvit.py; its configs use
  // the second value of each): the time token through an MLP (true) or the
  // raw sinusoid of width W (mlp_time_embed = False); a bias on qkv (true,
  // qkv_bias = False there); a 3 x 3 convolution on the output token grid
  // (false, conv = True there). The defaults are what recorded runs used.
  bool time_mlp = true, qkv_bias = true, conv_out = false;
  // unet: the feature-map sides (in backbone tokens) whose levels have
  // self-attention, comma-separated: DDPM's attn_resolutions (CIFAR-10:
  // "16"). "" = every level below the top (what recorded runs used); the
  // middle always attends.
  std::string attn_resolutions;
};

struct TrainConfig {
  int epochs = 1;
  int batch = 128;
  double base_lr = 1e-4;          // lr = base_lr x batch / 256
  double min_lr = 0;              // the cosine's floor, absolute (DINO's main_dino.py --min_lr: 1e-6)
  double warmup_epochs = 0.0;
  double weight_decay = 0.0;
  // < 0: constant weight decay; else a per-step cosine from weight_decay to
  // this (DINO's utils.cosine_scheduler: 0.04 -> 0.4).
  double weight_decay_end = -1.0;
  // No weight decay on parameters of fewer than two dimensions (biases,
  // norm scales): timm's add_weight_decay (MAE), DINO's get_params_groups.
  bool wd_exclude_1d = false;
  double beta2 = 0.999;
  double ema = 0.0;               // 0 = off; else decay (DiT: 0.9999)
  double grad_clip = 0.0;         // 0 = off; else max global norm
  // "global": one norm over every gradient (torch.nn.utils.clip_grad_norm_);
  // "per_param": each parameter's gradient clipped to its own norm (DINO's
  // utils.clip_gradients).
  std::string grad_clip_mode = "global";
  bool bf16 = false;              // bf16 autocast (CPU: AVX-512 bf16)
  std::string device = "cpu";     // cpu | cuda | auto
  int threads = 0;                // 0 = default_threads() (not part of the run id)
  int checkpoint_every = 500;     // steps (not part of the run id)
  int log_every = 50;             // steps (not part of the run id)
  double bucket_mb = 25;          // data parallel: gradient bucket size (not part of the run id)
  bool fused_adamw = false;       // AdamW as one fused kernel per group (core/train/fused_adamw.hpp)
  // The DiT block's LayerNorm + modulate, gated residuals (core/nn/adaln_fused)
  // and GELU (core/nn/gelu_tanh) as fused kernels; equal to LibTorch's ops to
  // float rounding, so it enters the run id when set.
  bool fused_kernels = false;
  bool cuda_graph = false;        // replay the whole step as a CUDA graph (needs fused_adamw; not part of the run id)
  // RUN/metrics.jsonl and TensorBoard events in RUN/tb/, written as the run
  // trains (core/records/live_log.hpp; not part of the run id).
  bool live_log = true;
};

struct ProbeConfig {
  std::string name = "linear";        // registry: probe_names()
  // encoder | raw_pixels (no training) | untrained_encoder (the same DiT at
  // its seeded initialization, no pre-training: does pre-training help?)
  std::string features = "encoder";
  int block = -1;                     // -1 = the split (the backbone's default feature point)
  std::string pool = "mean";          // mean over tokens (paper) | cls | cls_mean (both need model.cls_token)
  // What a baseline method's training reads (MethodContext::pool): the
  // probe's pool, but "cls_mean" is DINO's linear readout only (eval_linear.py
  // --avgpool_patchtokens); its training reads the class token.
  std::string training_pool() const { return pool == "cls_mean" ? "cls" : pool; }
  int t = 10;                         // on the T-step scale
  bool noisy = false;                 // clean input (paper default) or noisy
  int epochs = 30;
  int batch = 256;
  std::string optimizer = "sgd";      // sgd (momentum 0.9) | adamw | lars (MAE's main_linprobe)
  double base_lr = 0.1;               // lr = base_lr x batch / 256
  double weight_decay = 0.0;
  int warmup_epochs = 0;              // linear warm-up, then the half-cycle cosine (MAE's lr_sched)
  // none: features of the prepared images computed once (cached); rrc_flip:
  // the training images' features recomputed every batch from a fresh
  // RandomResizedCrop (scale 0.08-1) + flip through the frozen encoder
  // (MAE's main_linprobe); the test split is read as prepared (centre crop).
  std::string augment = "none";
  int knn_k = 20;                     // kNN probe beside the linear one: k neighbours
  double knn_t = 0.07;                // (cosine, votes exp(sim / T)); knn_k = 0: off
};

// Generation quality (Table 1): samples from the trained denoiser, FID
// against real test images in the feature space of a frozen network.
struct EvalConfig {
  int fid_samples = 0;                  // 0 = no generation; else N generated vs N real
  std::string sampler = "ddim";         // ddim (eta 0) | ddpm (ancestral, eta 1)
  int sample_steps = 50;                // respaced steps of the T-step schedule
  std::string fid_net = "classifier";   // "classifier" (trained here) | TorchScript .pt
  // FID's reference images: "test" = the first fid_samples test images;
  // "train" = every training image (ADM's reference statistics, DiT's FID-50K).
  std::string fid_reference = "test";
  // FID's image counts for splits of n_train and n_test images: {generated,
  // reference}. fid_samples are generated, at most n_test when the test
  // images are the reference (they pair with as many real ones).
  std::pair<int64_t, int64_t> fid_counts(int64_t n_train, int64_t n_test) const {
    if (fid_reference == "train") return {fid_samples, n_train};
    const int64_t n = fid_samples < n_test ? fid_samples : n_test;
    return {n, n};
  }
  int classifier_epochs = 5;            // the harness's own classifier (FID, perceptual)
  // Fine-tuning (probes/finetune.hpp): the encoder the probe reads + a linear
  // head, trained end to end (MAE's recipe scaled down). 0 epochs = off.
  double finetune_epochs = 0;
  int finetune_batch = 128;
  double finetune_lr = 1e-3;            // base lr: lr = base x batch / 256 (MAE: 5e-4)
  double finetune_layer_decay = 0.75;   // layer-wise lr decay (MAE ViT-B: 0.65)
  double finetune_weight_decay = 0.05;
  double finetune_warmup_epochs = 1;
  double finetune_label_smoothing = 0.1;
  double finetune_mixup = 0;            // mixup alpha; 0 = off
  double finetune_cutmix = 0;           // cutmix alpha; 0 = off
  double finetune_crop_min = 0.2;       // RandomResizedCrop's smallest area (MAE's timm transform: 0.08)
  double finetune_min_lr = 0;           // the cosine's floor, absolute (MAE's main_finetune.py: 1e-6)
  double finetune_drop_path = 0;        // stochastic depth, dit (MAE: 0.1 ViT-B, 0.2 ViT-L); 0 = off
  int finetune_randaug_n = 0;           // RandAugment's operations per image; 0 = off (MAE: 2)
  double finetune_randaug_m = 9;        // its magnitude, 0..10 (MAE: rand-m9)
  double finetune_randaug_mstd = 0.5;   // the magnitude's std per call (MAE: mstd0.5)
  double finetune_reprob = 0;           // random erasing's probability per image (MAE: 0.25)
  // What the fine-tuning head reads: "probe" (as probe.pool), "mean" (MAE's
  // global pool over the tokens, class token left out), "cls" (the class token).
  std::string finetune_pool = "probe";
  // RUN/encoder.safetensors + encoder.json for Python (core/export/; not part of the run id).
  bool export_encoder = true;
};

// The pre-training method (methods/): "denoise" is the paper's (every key of
// noise.* and objective.* belongs to it); mae, moco_v3 and dino are the
// baselines of its Table 4, on the same data, backbone and trainer, each
// with its own section (methods/mae.hpp, moco_v3.hpp, dino.hpp).
struct MethodConfig {
  std::string name = "denoise";  // registry: method_names()
};

// A component's own config section (e.g. methods/mae.hpp: MaeConfig, keys
// mae.*), kept by name so that adding a component touches no file of the
// config layer. S is copyable, default-constructible and names its section
// in `static constexpr const char* kSection`. A section never set reads as
// S's defaults.
class Sections {
 public:
  template <class S>
  const S& get() const {
    auto it = m_.find(S::kSection);
    if (it == m_.end()) {
      static const S defaults{};
      return defaults;
    }
    return std::any_cast<const S&>(it->second);
  }
  template <class S>
  S& mut() {
    std::any& a = m_[S::kSection];
    if (!a.has_value()) a = S{};
    return std::any_cast<S&>(a);
  }

 private:
  std::map<std::string, std::any> m_;
};

struct RunConfig {
  DataConfig data;
  TokenizerConfig tokenizer;
  NoiseConfig noise;
  ObjectiveConfig objective;
  ModelConfig model;
  TrainConfig train;
  ProbeConfig probe;
  EvalConfig eval;
  MethodConfig method;
  Sections sections;  // components' own sections: mae, moco, dino, ...
  int64_t seed = 0;
  // Keys of plugin axes set away from their defaults ("masking.ratio" -> 0.75).
  std::map<std::string, Value> ext;
};

// A config key declared at run time by a plugin: "section.name", its default
// (which fixes its type: bool, integer, number or string), a one-line help,
// and optionally a numeric range or the admitted strings. A plugin key at its
// default stays out of the run id, so old sweep files keep their ids.
struct KeySpec {
  std::string key;
  Value default_value;
  std::string help;
  double lo = -1e300, hi = 1e300;
  std::vector<std::string> choices;
};
// Adds the keys of one plugin (`owner` names it in errors). All or nothing:
// a key that exists already (built in or from another plugin), or one
// without a "section." prefix, throws InputError and adds none.
void declare_keys(const std::vector<KeySpec>& keys, const std::string& owner);
// The declared keys with their owners, in declaration order.
std::vector<std::pair<KeySpec, std::string>> declared_keys();


struct Setting {
  Value value;
  Origin origin;
};
// "section.key" -> value, one layer of overrides.
using Overrides = std::map<std::string, Setting>;

// A seed as a setting gives it (--set seed=N): an integer, 0 or more;
// InputError naming where it was set otherwise.
int64_t seed_of(const Setting& s);

// Apply one layer. Throws InputError naming origin and key for an unknown key
// (with the closest known key), a wrong type or a value out of range.
void apply_overrides(RunConfig& cfg, const Overrides& layer);
// Cross-field checks (e.g. image-space targets need a linear tokenizer):
// each component's own check, then the plugins'. `where` names the sweep row
// in errors (InputError). Defined in core/run/validate.cpp, where every
// component is known.
// cli: the --set keys, so an error in one of them says it came from the
// command line rather than from the row's line in the file.
void validate(const RunConfig& cfg, const std::string& where, const Overrides* cli = nullptr);
// Extra cross-field checks run by validate() (plugins add theirs).
void add_validator(std::function<void(const RunConfig&, const std::string&)> check);
// Runs the checks add_validator added, in the order they were added.
void run_added_validators(const RunConfig& cfg, const std::string& where);

// Every known key, in table order, for --help, errors and suggestions.
std::vector<std::string> config_keys();
// The value of one key in cfg.
Value get(const RunConfig& cfg, const std::string& key);

// Canonical text of the semantic fields (what changes the result):
// "key = value" lines in the frozen order (core/config/key_order.cpp), then
// later keys and plugin keys away from their defaults, sorted by key.
// Threads, logging and checkpoint cadence are excluded.
std::string canonical(const RunConfig& cfg);
// The lines of canonical(cfg) that can change the pre-trained model: all but
// the keys read after pre-training (probe.*, eval.* but the classifier's
// epochs), and for a baseline method (method.name != "denoise") the probe's
// block and pool it trains through when set. The trained-model cache key
// (core/run/pretrain.cpp) hashes it, so a new section's keys count unless
// its rows say otherwise.
std::string training_text(const RunConfig& cfg);
// Run id: 16 hex digits of a 64-bit FNV-1a hash of canonical(cfg) + seed.
std::string run_id(const RunConfig& cfg);
// 16 hex digits of the 64-bit FNV-1a hash of text (stable across builds).
std::string fnv1a_hex(const std::string& text);
// Resolved config as TOML, grouped by section, for the run folder.
std::string to_toml(const RunConfig& cfg);

// Parse "key=value" from the command line (value in TOML syntax; a bare word
// is a string).
std::pair<std::string, Setting> parse_set(const std::string& arg);
// Every --set of a command line as one layer; a key given twice keeps the
// last value, as on any command line.
Overrides parse_sets(const std::vector<std::string>& args);

// Closest candidate by edit distance, or "" when none is close.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

// Model shape after presets are applied.
struct ModelShape {
  int depth, width, heads;  // the split is the backbone's (registry: backbone_options)
};
ModelShape model_shape(const ModelConfig& m);


}  // namespace ldae
