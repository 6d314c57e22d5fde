"""A tiny, randomly initialised Kolors pipeline for tests and the CPU benchmark.

The real weights (about 20 GB) cannot be downloaded on the development machines, so the local backend
is exercised on a pipeline with Kolors' exact architecture and file layout but toy sizes: a ChatGLM text
encoder with two layers and a 32-wide hidden state, a two-level UNet and a two-block VAE. Saved with
``save_pretrained``, the folder loads through ``KolorsPipeline.from_pretrained`` like the real one, and a
64x64 image takes a fraction of a second on a CPU. The images are noise; only the plumbing is real.

Usage::

    folder = build_tiny_kolors(tmp_path / "kolors")   # then KOLORS_MODEL=folder

Needs torch, diffusers, transformers and sentencepiece (``requirements-local.txt``).
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

__all__ = ["TINY_VOCAB_PIECES", "build_tiny_kolors", "tiny_kolors_pipeline"]

TINY_VOCAB_PIECES = 100
"""How many pieces the in-memory sentencepiece model is trained to (ChatGLM adds 9 special tokens)."""

# Kolors' own scheduler configuration (scheduler/scheduler_config.json of Kwai-Kolors/Kolors-diffusers).
KOLORS_SCHEDULER_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.014,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1100,
    "steps_offset": 1,
    "timestep_spacing": "leading",
}

_CORPUS = [
    "a photo of an astronaut riding a horse on the moon",
    "a red cat sitting on a blue chair in a sunny kitchen",
    "the quick brown fox jumps over the lazy dog",
    "watercolor painting of misty mountains at sunset",
    "a ladybug on a green leaf, macro photography, high quality",
    "portrait of an old fisherman with a white beard, cinematic lighting",
    "a bowl of ramen with eggs and spring onions, studio photo",
    "futuristic city skyline at night with neon signs and flying cars",
    "an oil painting of sunflowers in a vase on a wooden table",
    "a small wooden cabin in a snowy forest under the northern lights",
    "cute corgi puppy wearing sunglasses on a beach, 4k",
    "ancient chinese temple in the rain, ink wash painting",
    "a bicycle leaning against a yellow wall in an old european town",
    "isometric pixel art of a tiny island with palm trees",
    "jellyfish glowing in deep dark blue ocean water",
    "a steaming cup of coffee next to an open book by the window",
]


def _train_sentencepiece(vocab_pieces: int) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS * 8),
        model_writer=model,
        vocab_size=vocab_pieces,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,  # a ~100-piece vocabulary from a small corpus: take what it can learn
        minloglevel=2,
    )
    return model.getvalue()


def tiny_kolors_pipeline(scratch: str | Path, *, seed: int = 0, vocab_pieces: int = TINY_VOCAB_PIECES):
    """Build the tiny ``KolorsPipeline`` in memory (float32, CPU). Deterministic for a given ``seed``.

    The tokenizer reads its sentencepiece file from ``scratch`` again when saved, so keep that folder
    until the pipeline is saved or dropped.
    """
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, KolorsPipeline, UNet2DConditionModel
    from diffusers.pipelines.kolors import ChatGLMModel, ChatGLMTokenizer
    from diffusers.pipelines.kolors.text_encoder import ChatGLMConfig

    # 1. Tokenizer: ChatGLMTokenizer only takes a sentencepiece model file.
    vocab_file = Path(scratch) / "tokenizer.model"
    vocab_file.write_bytes(_train_sentencepiece(vocab_pieces))
    tokenizer = ChatGLMTokenizer(vocab_file=str(vocab_file))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)

        # 2. Text encoder. `original_rope` and `seq_length >= 256` (the prompt length Kolors pads to) are
        #    both required; `empty_init=False` plus an explicit init, because its own init leaves garbage.
        #    Grouped-query attention with biased QKV, as in ChatGLM3-6B, so the same code paths run.
        config = ChatGLMConfig(
            num_layers=2,
            padded_vocab_size=tokenizer.vocab_size,  # sentencepiece pieces + ChatGLM's 9 special tokens
            hidden_size=32,
            ffn_hidden_size=64,
            kv_channels=8,
            num_attention_heads=4,
            seq_length=256,
            original_rope=True,
            multi_query_attention=True,
            multi_query_group_num=2,
            add_qkv_bias=True,
        )
        text_encoder = ChatGLMModel(config, empty_init=False)
        with torch.no_grad():
            for name, parameter in text_encoder.named_parameters():
                if "norm" in name:
                    parameter.fill_(1.0)
                else:
                    parameter.normal_(0.0, 0.02)

        # 3. UNet: SDXL-style "text_time" conditioning; the pooled text embedding is ChatGLM's hidden size,
        #    plus six time ids (original size, crop, target size) of `addition_time_embed_dim` each.
        addition_time_embed_dim = 8
        unet = UNet2DConditionModel(
            block_out_channels=(16, 32),
            layers_per_block=1,
            sample_size=32,
            in_channels=4,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=addition_time_embed_dim,
            transformer_layers_per_block=(1, 1),
            projection_class_embeddings_input_dim=32 + 6 * addition_time_embed_dim,
            cross_attention_dim=32,
            norm_num_groups=8,
        )

        # 4. VAE: two blocks, so latents are half the image size (the real one divides by 8).
        vae = AutoencoderKL(
            block_out_channels=(16, 32),
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            latent_channels=4,
            sample_size=64,
            norm_num_groups=8,
        )

    scheduler = EulerDiscreteScheduler(**KOLORS_SCHEDULER_CONFIG)
    return KolorsPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler
    )


def build_tiny_kolors(folder: str | Path, *, seed: int = 0) -> Path:
    """Save the tiny pipeline to ``folder`` in the diffusers layout (as on the Hub) and return the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        tiny_kolors_pipeline(scratch, seed=seed).save_pretrained(folder)
    return folder


def cached_tiny_kolors(*, seed: int = 0) -> Path:
    """The tiny pipeline, built once per machine and kept under ~/.cache/kolors-playground (it is
    deterministic: the same source, seed and library versions give the same files). Building it costs
    10-12 s of CPU, which every test session would otherwise pay. Treat the folder as read-only."""
    import hashlib
    import os
    import shutil
    from importlib.metadata import version

    key = hashlib.sha256(Path(__file__).read_bytes())
    for package in ("torch", "diffusers", "transformers"):
        key.update(f"{package}={version(package)}".encode())
    key.update(f"seed={seed}".encode())
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kolors-playground"
    folder = root / f"tiny-kolors-{key.hexdigest()[:16]}"
    if (folder / "model_index.json").exists():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tiny-kolors-", dir=root))
    try:
        build_tiny_kolors(scratch, seed=seed)
        try:
            scratch.rename(folder)  # atomic: a second process building at the same time keeps its own
        except OSError:
            if not (folder / "model_index.json").exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


if __name__ == "__main__":  # python tests/tiny_kolors.py OUT_DIR
    import sys

    print(build_tiny_kolors(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="tiny-kolors-")))
