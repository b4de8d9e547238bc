"""course_utils.soft_prompts: the from-scratch soft prompt equals peft's; the adapter is exact."""

from __future__ import annotations

import copy

import pytest
import torch

from course_utils import soft_prompts

IDS = torch.tensor([[5, 6, 7, 1, 0], [8, 9, 1, 0, 0]])
MASK = (IDS != 0).long() | torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]])
LABELS = torch.tensor([[10, 11, 1], [12, 1, -100]])


def test_soft_prompt_equals_peft_prompt_tuning(tiny_t5):
    from peft import PromptTuningConfig, TaskType, get_peft_model

    config = PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=4)
    theirs = get_peft_model(copy.deepcopy(tiny_t5), config).eval()
    vectors = theirs.prompt_encoder["default"].embedding.weight[:4].detach()
    ours = soft_prompts.SoftPrompt(copy.deepcopy(tiny_t5), vectors).eval()
    a = ours(input_ids=IDS, attention_mask=MASK, labels=LABELS)
    b = theirs(input_ids=IDS, attention_mask=MASK, labels=LABELS)
    assert torch.allclose(a.logits, b.logits, atol=1e-6)
    assert abs(a.loss.item() - b.loss.item()) < 1e-6
    trainable = [n for n, p in ours.named_parameters() if p.requires_grad]
    assert trainable == ["prompt"]
    # peft allocates rows for two submodules of a seq2seq model and uses the first n
    assert theirs.prompt_encoder["default"].embedding.weight.shape[0] == 2 * 4


def test_soft_prompt_learns_while_the_model_stays_frozen(tiny_t5):
    prompt = soft_prompts.SoftPrompt.from_vocabulary(tiny_t5, 3, token_ids=[5, 6])
    assert torch.equal(prompt.prompt[2], tiny_t5.get_input_embeddings().weight[5])
    before = {n: p.clone() for n, p in tiny_t5.named_parameters()}
    optimizer = torch.optim.SGD([prompt.prompt], lr=1.0)
    start = prompt.prompt.detach().clone()
    prompt(input_ids=IDS, attention_mask=MASK, labels=LABELS).loss.backward()
    optimizer.step()
    assert not torch.equal(prompt.prompt, start)
    assert all(torch.equal(p, before[n]) for n, p in tiny_t5.named_parameters())


@torch.no_grad()  # autograd picks other attention kernels: compare like with like
def logits(model):
    return model(input_ids=IDS, attention_mask=MASK, labels=LABELS).logits


def test_bottleneck_adapter_starts_at_and_removes_to_the_base(tiny_t5):
    base = logits(tiny_t5)
    model = copy.deepcopy(tiny_t5)
    adapters = soft_prompts.add_bottleneck_adapters(model, bottleneck=3)
    assert len(adapters) == 2  # one feed-forward block in the encoder, one in the decoder
    assert torch.equal(logits(model), base)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == soft_prompts.adapter_parameters(model.config.d_model, 3, 2)
    with torch.no_grad():
        for adapter in adapters:
            adapter.up.weight.fill_(0.1)
    assert not torch.allclose(logits(model), base)
    soft_prompts.remove_bottleneck_adapters(model)
    assert torch.equal(logits(model), base)


@pytest.mark.parametrize("blocks", [1, 24])
def test_adapter_parameter_count(blocks):
    assert soft_prompts.adapter_parameters(768, 64, blocks) == blocks * (2 * 768 * 64 + 64 + 768)
