"""The pieces notebook 01 is built from: replay batches, the L2-SP penalty, LoRA wrapping."""

from __future__ import annotations

import torch
from transformers import T5Config, T5ForConditionalGeneration

from course_utils import forgetting
from course_utils.mini import tasks


def tiny_t5() -> T5ForConditionalGeneration:
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=64,
        d_model=16,
        d_kv=4,
        d_ff=32,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        decoder_start_token_id=0,
        dropout_rate=0.0,
    )
    return T5ForConditionalGeneration(config).eval()


def test_replay_batches_mix_the_requested_share():
    new = tasks.examples("sentiment_binary", "train", 100)
    old = tasks.mixture("train", 20)
    batch = next(forgetting.replay_batches(new, old, batch_size=10, replay_share=0.3, seed=0))
    assert len(batch) == 10
    assert sum(e.task != "sentiment_binary" for e in batch) == 3
    batch = next(forgetting.replay_batches(new, old, batch_size=10, replay_share=0.0, seed=0))
    assert all(e.task == "sentiment_binary" for e in batch)


def test_l2sp_is_zero_at_the_anchor_and_grows_with_distance():
    model = tiny_t5()
    anchor = forgetting.snapshot(model)
    assert forgetting.l2sp_penalty(model, anchor, 0.5).item() == 0.0
    with torch.no_grad():
        first = next(model.parameters())
        first.add_(1.0)
    expected = 0.5 * first.numel()
    assert abs(forgetting.l2sp_penalty(model, anchor, 0.5).item() - expected) < 1e-3


def test_lora_trains_few_parameters_and_disabled_adapter_is_the_base():
    model = tiny_t5()
    ids = torch.tensor([[3, 4, 5, 1]])
    before = model(input_ids=ids, decoder_input_ids=ids).logits
    wrapped = forgetting.add_lora(model, rank=2, alpha=4, targets=["q", "v"])
    assert forgetting.trainable_parameters(wrapped) < 0.2 * sum(
        p.numel() for p in model.parameters()
    )
    with torch.no_grad():
        for name, p in wrapped.named_parameters():
            if "lora_B" in name:
                p.fill_(0.1)
    changed = wrapped(input_ids=ids, decoder_input_ids=ids).logits
    assert not torch.allclose(changed, before)
    with wrapped.disable_adapter():
        restored = wrapped(input_ids=ids, decoder_input_ids=ids).logits
    assert (restored - before).abs().max().item() < 1e-5, (restored - before).abs().max()
