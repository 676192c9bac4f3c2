#!/usr/bin/env python3
"""The papers' protocol, pinned (CTest protocol): every small and paper
profile's resolved recipe against its source.

  protocol.py RUN_SWEEP SOURCE_DIR

Each planned run of experiments/*.toml under --profile small, paper and
paper_l (Table 4's ViT-L column; files without it are skipped) is
read from `run_sweep FILE --profile P --show-config` (the resolved config as
TOML, with "# derived:" lines for the scaled learning rates and the
backbone's shape) and checked against the table below. A table row: which
sweep files and profile, which runs (a method, or every run), the key, the
value, and the source that gives the value. Every run a row selects must
have the value; every row must select at least one run (a row that checks
nothing fails). The plugin sweep (plugin_masking.toml) needs its plugin and
is left to its own test.
"""
import glob
import os
import re
import subprocess
import sys
import tomllib

LDAE = "shared/paper/ldae.md, 'Defaults behind every ablation'"
LINPROBE = "facebookresearch/mae main_linprobe.py, FINETUNE.md 'Linear Probing' (util/lars.py)"
DIT = "[U] not in the paper: facebookresearch/DiT train.py (EMA 0.9999, AdamW betas default)"
MOCO = "facebookresearch/moco-v3 CONFIG.md, ViT-B (main_moco.py)"
MAE = "facebookresearch/mae PRETRAIN.md (main_pretrain.py; released ViT-B: 1600 epochs)"
DINO = "facebookresearch/dino README ViT-B/16 command, main_dino.py defaults"
TABLE4 = "shared/paper/ldae.md, 'Other results': Table 4 at 1600 epochs, random crop; ViT-B encoder"
UVIT = "baofff/U-ViT libs/uvit.py and its configs (mlp_time_embed False, qkv_bias False, conv True)"
DDPM = "hojonathanho/diffusion scripts/run_cifar.py (ch_mult (1, 2, 2, 2), attn_resolutions (16,))"
MAEFT = "facebookresearch/mae FINETUNE.md (main_finetune.py)"
REPA = "sihyun-yu/REPA models/sit.py build_mlp (projector_dim 2048)"
OURS = "ours: the paper's recipe at CIFAR-10 scale (experiments/*.toml [profile.small] says why)"
TOKFIT = "[U] not in the paper (DiT's runs use Stable Diffusion's pretrained VAE): one fit for every learned tokenizer"
DITVAR = "facebookresearch/DiT models.py (learn_sigma=True) and diffusion/__init__.py (LEARNED_RANGE, loss mse + vb)"
CROPS = "facebookresearch/mae main_pretrain.py, main_linprobe.py: RandomResizedCrop(interpolation=3) on the decoded image"
CENTRE = "facebookresearch/DiT train.py center_crop_arr (ADM's guided_diffusion/image_datasets.py)"
ADM = "facebookresearch/DiT README: FID-50K by ADM's evaluator (reference statistics over the training set), 250 DDPM steps"

# The l-DAE sweeps: every file but Table 4 and the plugin's.
LDAE_FILES = "!ablation_table4.toml"
# Files whose rows keep DiT-L split at 12 (the others vary the backbone on purpose).
DIT_L_FILES = "ablation_table1.toml ablation_table2.toml ablation_table3.toml appendix_probe_t.toml " \
              "sec5_augmentation.toml quickstart.toml seed_learned_variance.toml"

# (files, profile, runs, key, value, source). files: names, or "!name" for
# every file but that one; runs: "all", "method=NAME" (the runs that
# pre-train with that method; the default method is denoise; the raw-pixel
# anchor trains nothing), "backbone=NAME" or "tokenizer=NAME".
TABLE = [
    # ---- l-DAE, paper profile
    (LDAE_FILES, "paper", "method=denoise", "train.lr", 8e-4, LDAE + ": base lr 1e-4 x 2048 / 256"),
    (LDAE_FILES, "paper", "method=denoise", "train.batch", 2048, LDAE),
    (LDAE_FILES, "paper", "method=denoise", "train.warmup_epochs", 100, LDAE),
    (LDAE_FILES, "paper", "method=denoise", "train.weight_decay", 0.0, LDAE),
    (LDAE_FILES, "paper", "method=denoise", "train.beta2", 0.999, DIT),
    (LDAE_FILES, "paper", "method=denoise", "train.ema", 0.9999, DIT),
    (DIT_L_FILES, "paper", "method=denoise", "train.epochs", 400, LDAE),
    (DIT_L_FILES, "paper", "method=denoise", "model.blocks", 24, LDAE + ": DiT-L"),
    (DIT_L_FILES, "paper", "method=denoise", "model.block_width", 1024, LDAE + ": DiT-L"),
    (DIT_L_FILES, "paper", "method=denoise", "model.encoder_blocks", 12, LDAE + ": the first 12 blocks"),
    (DIT_L_FILES, "paper", "all", "data.resolution", 256, LDAE),
    (LDAE_FILES, "paper", "all", "data.whole_images", True, CROPS),
    ("ablation_table4.toml", "paper", "all", "data.whole_images", True, CROPS),
    ("ablation_table4.toml", "paper_l", "all", "data.whole_images", True, CROPS),
    (LDAE_FILES, "paper", "all", "data.resize", "dit", CENTRE),
    ("ablation_table4.toml", "paper", "all", "data.resize", "dit", CENTRE),
    ("ablation_table4.toml", "paper_l", "all", "data.resize", "dit", CENTRE),
    (DIT_L_FILES.replace("appendix_probe_t.toml ", ""), "paper", "method=denoise", "probe.t", 10,
     LDAE + ": clean input at t = 10 (of 1000)"),
    (DIT_L_FILES, "paper", "all", "probe.pool", "mean", LDAE + ": globally average-pooled"),
    ("ablation_table2.toml ablation_table3.toml", "paper", "method=denoise", "model.t_mlp_ratio", 0.25,
     LDAE + ": l-DAE's quarter-width t-MLP ([U] from which row: Table 2 joins Table 3)"),
    ("ablation_table1.toml seed_learned_variance.toml", "paper", "all", "model.t_mlp_ratio", 1.0, "DiT's t-MLP: Table 1 starts from DiT"),
    ("ablation_table2.toml", "paper", "all", "noise.schedule", "linear_gamma2", "shared/paper/ldae.md: Table 1's last row"),
    ("ablation_table1.toml seed_learned_variance.toml", "paper", "all", "tokenizer.steps", 200000, TOKFIT),
    ("ablation_table1.toml seed_learned_variance.toml", "paper", "all", "tokenizer.width", 128, TOKFIT),
    ("ablation_table2.toml", "paper", "tokenizer=conv_vae", "tokenizer.steps", 200000, TOKFIT + ": Table 1's"),
    ("ablation_table2.toml", "paper", "tokenizer=conv_vae", "tokenizer.width", 128, TOKFIT + ": Table 1's"),
    ("ablation_table2.toml", "paper", "tokenizer=patch_vae", "tokenizer.steps", 200000, TOKFIT + ": Table 1's"),
    ("ablation_table2.toml", "paper", "tokenizer=patch_ae", "tokenizer.steps", 200000, TOKFIT + ": Table 1's"),
    ("ablation_table1.toml seed_learned_variance.toml", "paper", "all", "eval.fid_samples", 50000, ADM),
    ("ablation_table1.toml seed_learned_variance.toml", "paper", "all", "eval.sampler", "ddpm", ADM),
    ("ablation_table1.toml seed_learned_variance.toml", "paper", "all", "eval.sample_steps", 250, ADM),
    ("ablation_table1.toml seed_learned_variance.toml", "paper", "all", "eval.fid_reference", "train", ADM),
    ("ablation_table1.toml", "paper", "all", "objective.learn_sigma", True, DITVAR),
    (LDAE_FILES, "paper", "all", "probe.optimizer", "lars", LINPROBE),
    (LDAE_FILES, "paper", "all", "probe.lr", 6.4, LINPROBE + ": blr 0.1 x 16384 / 256"),
    (LDAE_FILES, "paper", "all", "probe.batch", 16384, LINPROBE),
    (LDAE_FILES, "paper", "all", "probe.epochs", 90, LINPROBE),
    (LDAE_FILES, "paper", "all", "probe.warmup_epochs", 10, LINPROBE),
    (LDAE_FILES, "paper", "all", "probe.weight_decay", 0.0, LINPROBE),
    (LDAE_FILES, "paper", "all", "probe.augment", "rrc_flip", LINPROBE + ": RandomResizedCrop + flip"),
    # ---- l-DAE, small profile
    (LDAE_FILES, "small", "method=denoise", "train.lr", 1e-4, OURS),
    (LDAE_FILES, "small", "method=denoise", "train.weight_decay", 0.0, LDAE),
    (LDAE_FILES, "small", "method=denoise", "train.ema", 0.9999, DIT),
    (LDAE_FILES, "small", "all", "probe.optimizer", "lars", LINPROBE),
    (LDAE_FILES, "small", "all", "probe.lr", 1.6, OURS + ": blr 0.1 x 4096 / 256"),
    (LDAE_FILES, "small", "all", "probe.warmup_epochs", 10, LINPROBE),
    (LDAE_FILES, "small", "all", "probe.augment", "rrc_flip", LINPROBE),
    ("seed_backbones.toml", "paper", "backbone=uvit", "model.time_mlp", False, UVIT),
    ("seed_backbones.toml", "paper", "backbone=uvit", "model.qkv_bias", False, UVIT),
    ("seed_backbones.toml", "paper", "backbone=uvit", "model.conv_out", True, UVIT),
    ("seed_backbones.toml", "small", "backbone=uvit", "model.conv_out", True, UVIT),
    ("seed_alignment.toml", "paper", "all", "objective.align_hidden", 2048, REPA),
    ("ddae_block_t.toml", "small", "backbone=unet", "model.attn_resolutions", "16", DDPM),
    ("ddae_block_t.toml", "paper", "backbone=unet", "model.attn_resolutions", "16", "[U] " + DDPM + " at the 16 x 16 token grid"),
    ("seed_backbones.toml", "paper", "backbone=unet", "model.attn_resolutions", "16", "[U] " + DDPM + " at the 16 x 16 token grid"),
    ("seed_alignment.toml", "small", "all", "objective.align_hidden", 2048, REPA),
    # ---- Table 4, paper profile: each method its official recipe at ViT-B
    ("ablation_table4.toml", "paper", "all", "probe.optimizer", "lars", LINPROBE),
    ("ablation_table4.toml", "paper", "all", "probe.lr", 6.4, LINPROBE),
    ("ablation_table4.toml", "paper", "all", "probe.augment", "rrc_flip", LINPROBE),
    ("ablation_table4.toml", "paper", "all", "model.block_width", 768, "ViT-B (MAE models_mae.py, moco-v3 vits.py)"),
    ("ablation_table4.toml", "paper", "all", "model.encoder_blocks", 12, "ViT-B's 12 blocks"),
    ("ablation_table4.toml", "paper", "method=moco_v3", "train.lr", 2.4e-3, MOCO + ": lr 1.5e-4 x 4096 / 256"),
    ("ablation_table4.toml", "paper", "method=moco_v3", "train.batch", 4096, MOCO),
    ("ablation_table4.toml", "paper", "method=moco_v3", "train.epochs", 300, MOCO),
    ("ablation_table4.toml", "paper", "method=moco_v3", "train.warmup_epochs", 40, MOCO),
    ("ablation_table4.toml", "paper", "method=moco_v3", "train.weight_decay", 0.1, MOCO),
    ("ablation_table4.toml", "paper", "method=moco_v3", "train.beta2", 0.999, MOCO + ": AdamW defaults"),
    ("ablation_table4.toml", "paper", "method=moco_v3", "moco.freeze_patch_embed", True, MOCO + ": --stop-grad-conv1"),
    ("ablation_table4.toml", "paper", "method=moco_v3", "moco.t", 0.2, MOCO + ": --moco-t=.2"),
    ("ablation_table4.toml", "paper", "method=moco_v3", "moco.m", 0.99, MOCO + ": --moco-m 0.99, cosine to 1"),
    ("ablation_table4.toml", "paper", "method=moco_v3", "moco.mlp_dim", 4096, MOCO),
    ("ablation_table4.toml", "paper", "method=moco_v3", "moco.dim", 256, MOCO),
    ("ablation_table4.toml", "paper", "method=moco_v3", "model.blocks", 12, MOCO + ": vit_base"),
    ("ablation_table4.toml", "paper", "method=moco_v3", "moco.saturation", 0.2, MOCO + ": ColorJitter(0.4, 0.4, 0.2, 0.1)"),
    ("ablation_table4.toml", "paper", "method=moco_v3", "moco.hue", 0.1, MOCO + ": ColorJitter(0.4, 0.4, 0.2, 0.1)"),
    ("ablation_table4.toml", "paper", "method=moco_v3", "moco.grayscale_p", 0.2, MOCO + ": RandomGrayscale(p=0.2)"),
    ("ablation_table4.toml", "paper", "method=mae", "train.lr", 2.4e-3, MAE + ": blr 1.5e-4 x 4096 / 256"),
    ("ablation_table4.toml", "paper", "method=mae", "train.batch", 4096, MAE),
    ("ablation_table4.toml", "paper", "method=mae", "train.epochs", 1600, MAE),
    ("ablation_table4.toml", "paper", "method=mae", "train.warmup_epochs", 40, MAE),
    ("ablation_table4.toml", "paper", "method=mae", "train.weight_decay", 0.05, MAE),
    ("ablation_table4.toml", "paper", "method=mae", "train.beta2", 0.95, MAE + ": betas (0.9, 0.95)"),
    ("ablation_table4.toml", "paper", "method=mae", "train.wd_exclude_1d", True, MAE + ": timm add_weight_decay (1-D and biases)"),
    ("ablation_table4.toml", "paper", "method=mae", "mae.mask_ratio", 0.75, MAE),
    ("ablation_table4.toml", "paper", "method=mae", "mae.encoder_norm", True, MAE + ": models_mae.py norm after the blocks"),
    ("ablation_table4.toml", "paper", "method=mae", "mae.norm_pix", True, MAE + ": --norm_pix_loss"),
    ("ablation_table4.toml", "paper", "method=mae", "mae.decoder_depth", 8, MAE),
    ("ablation_table4.toml", "paper", "method=mae", "mae.decoder_width", 512, MAE),
    ("ablation_table4.toml", "paper", "method=mae", "model.blocks", 12, MAE + ": vit_base_patch16"),
    ("ablation_table4.toml", "paper", "method=dino", "train.lr", 2e-3, DINO + ": lr 5e-4 x 1024 / 256"),
    ("ablation_table4.toml", "paper", "method=dino", "train.batch", 1024, DINO),
    ("ablation_table4.toml", "paper", "method=dino", "train.epochs", 100, DINO),
    ("ablation_table4.toml", "paper", "method=dino", "train.warmup_epochs", 10, DINO),
    ("ablation_table4.toml", "paper", "method=dino", "train.weight_decay", 0.04, DINO + ": weight_decay"),
    ("ablation_table4.toml", "paper", "method=dino", "train.weight_decay_end", 0.4, DINO + ": weight_decay_end (cosine)"),
    ("ablation_table4.toml", "paper", "method=dino", "train.wd_exclude_1d", True, DINO + ": utils.get_params_groups"),
    ("ablation_table4.toml", "paper", "method=dino", "dino.freeze_last_layer", 1, DINO + ": --freeze_last_layer"),
    ("ablation_table4.toml", "paper", "method=dino", "train.grad_clip", 3.0, DINO + ": clip_grad"),
    ("ablation_table4.toml", "paper", "method=dino", "train.grad_clip_mode", "per_param", DINO + ": utils.clip_gradients, per parameter"),
    ("ablation_table4.toml", "small", "method=dino", "train.grad_clip_mode", "per_param", DINO),
    ("ablation_table4.toml", "paper", "method=moco_v3", "moco.jitter_order", "random", MOCO + ": transforms.ColorJitter (random order)"),
    ("ablation_table4.toml", "paper", "method=dino", "dino.jitter_order", "random", DINO + ": transforms.ColorJitter (random order)"),
    ("ablation_table4.toml", "small", "method=moco_v3", "moco.jitter_order", "random", MOCO),
    ("ablation_table4.toml", "small", "method=dino", "dino.jitter_order", "random", DINO),
    ("ablation_table4.toml", "paper", "method=dino", "dino.m", 0.996, DINO + ": momentum_teacher"),
    ("ablation_table4.toml", "paper", "method=dino", "dino.teacher_temp", 0.04, DINO),
    ("ablation_table4.toml", "paper", "method=dino", "dino.student_temp", 0.1, DINO),
    ("ablation_table4.toml", "paper", "method=dino", "dino.out_dim", 65536, DINO),
    ("ablation_table4.toml", "paper", "method=dino", "dino.local_crops", 8, DINO + ": local_crops_number"),
    ("ablation_table4.toml", "paper", "method=dino", "dino.drop_path", 0.1, DINO + ": drop_path_rate (the student)"),
    ("ablation_table4.toml", "paper", "method=dino", "train.min_lr", 1e-6, DINO + ": min_lr"),
    ("ablation_table4.toml", "paper_l", "method=dino", "train.min_lr", 1e-6, "[U] " + DINO + ": the ViT-B recipe"),
    ("ablation_table4.toml", "paper", "all", "eval.finetune_min_lr", 1e-6, MAEFT + ": --min_lr 1e-6"),
    ("ablation_table4.toml", "paper", "method=dino", "dino.local_size", 112, DINO + ": local crops 96 of 224 px (at 256: 7 x 7 tokens of 16)"),
    ("ablation_table4.toml", "small", "method=dino", "dino.local_size", 12, DINO + ": 96 / 224 of 32 px, whole 4-px tokens"),
    ("ablation_table4.toml", "paper", "method=dino", "dino.saturation", 0.2, DINO + ": ColorJitter(0.4, 0.4, 0.2, 0.1)"),
    ("ablation_table4.toml", "paper", "method=dino", "dino.hue", 0.1, DINO + ": ColorJitter(0.4, 0.4, 0.2, 0.1)"),
    ("ablation_table4.toml", "paper", "method=dino", "dino.grayscale_p", 0.2, DINO + ": RandomGrayscale(p=0.2)"),
    ("ablation_table4.toml", "paper", "method=dino", "model.blocks", 12, DINO + ": vit_base"),
    ("ablation_table4.toml", "paper", "method=denoise", "train.lr", 8e-4, TABLE4),
    ("ablation_table4.toml", "paper", "method=denoise", "train.epochs", 1600, TABLE4),
    ("ablation_table4.toml", "paper", "method=denoise", "train.warmup_epochs", 100, LDAE),
    ("ablation_table4.toml", "paper", "method=denoise", "train.weight_decay", 0.0, LDAE),
    ("ablation_table4.toml", "paper", "method=denoise", "train.ema", 0.9999, DIT),
    ("ablation_table4.toml", "paper", "method=denoise", "data.augment", "rrc_flip", TABLE4),
    ("ablation_table4.toml", "paper", "method=denoise", "model.blocks", 24, TABLE4 + ": decoder the encoder's size"),
    # ---- Table 4, small profile: each method's optimizer at a shared budget
    ("ablation_table4.toml", "small", "method=moco_v3", "train.base_lr", 1.5e-4, MOCO),
    ("ablation_table4.toml", "small", "method=moco_v3", "moco.freeze_patch_embed", True, MOCO),
    ("ablation_table4.toml", "small", "method=moco_v3", "moco.grayscale_p", 0.2, MOCO),
    ("ablation_table4.toml", "small", "method=dino", "dino.grayscale_p", 0.2, DINO),
    ("ablation_table4.toml", "small", "method=mae", "train.base_lr", 1.5e-4, MAE),
    ("ablation_table4.toml", "small", "method=mae", "train.beta2", 0.95, MAE),
    ("ablation_table4.toml", "small", "method=dino", "train.base_lr", 5e-4, DINO),
    ("ablation_table4.toml", "small", "method=dino", "train.grad_clip", 3.0, DINO),
    ("ablation_table4.toml", "small", "method=dino", "train.weight_decay_end", 0.4, DINO),
    ("ablation_table4.toml", "small", "method=mae", "train.wd_exclude_1d", True, MAE),
    ("ablation_table4.toml", "small", "method=denoise", "train.base_lr", 1e-4, LDAE),
    ("ablation_table4.toml", "small", "method=denoise", "model.encoder_blocks", 12, TABLE4),
    ("ablation_table4.toml", "small", "all", "probe.optimizer", "lars", LINPROBE),
    # ---- Table 4, paper_l profile: the paper's ViT-L column
    ("ablation_table4.toml", "paper_l", "all", "model.block_width", 1024, "ViT-L (MAE models_mae.py mae_vit_large_patch16)"),
    ("ablation_table4.toml", "paper_l", "all", "model.encoder_blocks", 24, "ViT-L's 24 blocks"),
    ("ablation_table4.toml", "paper_l", "all", "probe.lr", 6.4, LINPROBE),
    ("ablation_table4.toml", "paper_l", "method=mae", "model.blocks", 24, MAE + ": vit_large_patch16"),
    ("ablation_table4.toml", "paper_l", "method=mae", "train.lr", 2.4e-3, MAE + ": the same blr at every size"),
    ("ablation_table4.toml", "paper_l", "method=mae", "train.epochs", 1600, MAE),
    ("ablation_table4.toml", "paper_l", "method=mae", "eval.finetune_lr", 1e-3, MAEFT + ": ViT-L blr 1e-3"),
    ("ablation_table4.toml", "paper_l", "method=mae", "eval.finetune_layer_decay", 0.75, MAEFT + ": ViT-L"),
    ("ablation_table4.toml", "paper_l", "method=mae", "eval.finetune_epochs", 50, MAEFT + ": ViT-L"),
    ("ablation_table4.toml", "paper", "all", "eval.finetune_crop_min", 0.08, MAEFT + ": timm create_transform scale (0.08, 1)"),
    ("ablation_table4.toml", "paper", "method=mae", "eval.finetune_drop_path", 0.1, MAEFT + ": ViT-B --drop_path 0.1"),
    ("ablation_table4.toml", "paper_l", "method=mae", "eval.finetune_drop_path", 0.2, MAEFT + ": ViT-L --drop_path 0.2"),
    ("ablation_table4.toml", "paper_l", "all", "eval.finetune_crop_min", 0.08, MAEFT + ": timm create_transform scale (0.08, 1)"),
    ("ablation_table4.toml", "paper", "method=mae", "eval.finetune_randaug_n", 2, MAEFT + ": --aa rand-m9-mstd0.5-inc1 (timm's n 2)"),
    ("ablation_table4.toml", "paper", "method=mae", "eval.finetune_randaug_m", 9, MAEFT + ": --aa rand-m9"),
    ("ablation_table4.toml", "paper", "method=mae", "eval.finetune_randaug_mstd", 0.5, MAEFT + ": --aa mstd0.5"),
    ("ablation_table4.toml", "paper", "method=mae", "eval.finetune_reprob", 0.25, MAEFT + ": --reprob 0.25"),
    ("ablation_table4.toml", "paper_l", "method=mae", "eval.finetune_randaug_n", 2, MAEFT + ": the same transform at ViT-L"),
    ("ablation_table4.toml", "paper_l", "method=mae", "eval.finetune_reprob", 0.25, MAEFT + ": the same transform at ViT-L"),
    ("ablation_table4.toml", "paper", "method=moco_v3", "model.cls_token", True, MOCO + ": vits.py, the projector reads the class token"),
    ("ablation_table4.toml", "paper", "method=moco_v3", "probe.pool", "cls", MOCO + ": main_lincls.py reads the class token"),
    ("ablation_table4.toml", "paper", "method=moco_v3", "eval.finetune_pool", "probe", MOCO + ": DeiT fine-tuning on the class token"),
    ("ablation_table4.toml", "paper", "method=mae", "model.cls_token", True, MAE + ": models_vit.py has a class token"),
    ("ablation_table4.toml", "paper", "method=mae", "probe.pool", "cls", LINPROBE + ": global_pool off, the class token"),
    ("ablation_table4.toml", "paper", "method=mae", "eval.finetune_pool", "mean", MAEFT + ": --global_pool, fc_norm"),
    ("ablation_table4.toml", "paper", "method=dino", "probe.pool", "cls_mean", DINO + ": eval_linear.py's ViT-B readout, --n_last_blocks 1 --avgpool_patchtokens"),
    ("ablation_table4.toml", "paper", "method=dino", "eval.finetune_pool", "cls", DINO + ": DeiT fine-tuning on the class token"),
    ("ablation_table4.toml", "paper_l", "method=mae", "probe.pool", "cls", LINPROBE + ": the same at ViT-L"),
    ("ablation_table4.toml", "paper_l", "method=mae", "eval.finetune_pool", "mean", MAEFT + ": the same at ViT-L"),
    ("ablation_table4.toml", "paper", "method=denoise", "probe.pool", "mean", TABLE4 + ": average-pooled (the DiT has no class token)"),
    ("ablation_table4.toml", "paper_l", "method=moco_v3", "train.lr", 2.4e-3, "[U] " + MOCO + " (no ViT-L command)"),
    ("ablation_table4.toml", "paper_l", "method=denoise", "model.blocks", 48, TABLE4 + ": decoder the encoder's size"),
    ("ablation_table4.toml", "paper_l", "method=denoise", "train.lr", 8e-4, TABLE4),
]


def runs_of(run_sweep, path, profile):
    """The planned runs of a sweep file under a profile: a list of dicts
    KEY -> value (section.key, and the derived keys)."""
    out = subprocess.run([run_sweep, path, "--profile", profile, "--show-config", "--results",
                          os.path.join(os.environ.get("TMPDIR", "/tmp"), "protocol-results")],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"FAIL: {path} --profile {profile}: exit {out.returncode}\n{out.stderr[-2000:]}")
    runs = []
    for chunk in re.split(r"^# ---- ", out.stdout, flags=re.M)[1:]:
        header = chunk.split("\n", 1)[0]
        flat = {"_header": header}
        for m in re.finditer(r"^# derived: (\S+) = (\S+)", chunk, flags=re.M):
            flat[m.group(1)] = float(m.group(2))
        for section, table in tomllib.loads(chunk.split("\n", 1)[1]).items():
            if isinstance(table, dict):
                for k, v in table.items():
                    flat[f"{section}.{k}"] = v
        runs.append(flat)
    return runs


def selects(files, name):
    if files.startswith("!"):
        return name != files[1:] and name != "plugin_masking.toml"
    return name in files.split()


def same(a, b):
    if isinstance(b, bool) or isinstance(b, str):
        return a == b
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    run_sweep, src = sys.argv[1:]
    files = sorted(os.path.basename(f) for f in glob.glob(os.path.join(src, "experiments", "*.toml")))
    plans = {}
    for name in files:
        if name == "plugin_masking.toml":
            continue
        path = os.path.join(src, "experiments", name)
        with open(path, "rb") as f:
            defined = tomllib.load(f).get("profile", {})
        for profile in ("small", "paper", "paper_l"):
            if profile in defined:
                plans[(name, profile)] = runs_of(run_sweep, path, profile)
    failures, checked = [], 0
    for files_sel, profile, which, key, want, source in TABLE:
        hits = 0
        for (name, prof), runs in plans.items():
            if prof != profile or not selects(files_sel, name):
                continue
            for run in runs:
                # A method's recipe: the runs it trains (the raw-pixel anchor trains nothing).
                kind, _, name_sel = which.partition("=")
                if kind == "method" and (run.get("method.name") != name_sel or
                                         run.get("probe.features") == "raw_pixels"):
                    continue
                if kind == "backbone" and run.get("model.name") != name_sel:
                    continue
                if kind == "tokenizer" and run.get("tokenizer.name") != name_sel:
                    continue
                hits += 1
                got = run.get(key)
                if got is None or not same(got, want):
                    failures.append(f"{name} --profile {profile} {run['_header']}: {key} = {got}, "
                                    f"want {want} ({source})")
        if hits == 0:
            failures.append(f"table row ({files_sel}, {profile}, {which}, {key}) selects no run")
        checked += hits
    for f in failures[:40]:
        print("FAIL:", f)
    if failures:
        sys.exit(f"{len(failures)} protocol value(s) differ from their source")
    print(f"ok: {len(TABLE)} protocol rows, {checked} resolved values of {len(plans)} sweep-file profiles "
          "match their sources")


if __name__ == "__main__":
    main()
