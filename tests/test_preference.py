"""course_utils.preference: DPO from scratch at the start (ln 2, zero rewards) and against TRL's
DPOTrainer on the same batch; the Bradley-Terry loss."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from datasets import Dataset

from course_utils import preference

PAIRS = {
    "prompt": ["Name a fruit.", "What is 3 plus 4?", "Name a colour.", "What is 2 plus 2?"],
    "chosen": ["A pear is a fruit.", "3 plus 4 is 7.", "Red is a colour.", "2 plus 2 is 4."],
    "rejected": ["car", "9", "dog", "5"],
}


def test_at_the_start_the_loss_is_ln2_and_every_reward_zero():
    logps = torch.tensor([-12.5, -3.0, -40.0])
    terms = preference.dpo_loss(logps, logps - 1, logps, logps - 1, beta=0.1)
    assert abs(terms.loss.item() - math.log(2)) < 1e-6
    assert torch.equal(terms.chosen_rewards, torch.zeros(3))
    assert torch.equal(terms.margins, torch.zeros(3)) and terms.accuracy == 0.0


def test_dpo_rewards_the_policy_for_preferring_the_chosen_answer():
    reference = torch.tensor([-10.0, -10.0])
    terms = preference.dpo_loss(reference + 2, reference - 2, reference, reference, beta=0.5)
    assert torch.allclose(terms.chosen_rewards, torch.tensor([1.0, 1.0]))
    assert torch.allclose(terms.margins, torch.tensor([2.0, 2.0]))
    assert terms.loss.item() == pytest.approx(-math.log(1 / (1 + math.exp(-2.0))))
    assert terms.accuracy == 1.0


def test_bradley_terry_loss():
    assert preference.bradley_terry_loss(torch.zeros(2), torch.zeros(2)).item() == pytest.approx(
        math.log(2)
    )
    assert preference.bradley_terry_loss(torch.tensor([5.0]), torch.tensor([0.0])).item() < 0.01


def test_from_scratch_dpo_equals_trl_on_the_same_batch(tiny_decoder, tmp_path):
    model, tokenizer = tiny_decoder
    beta = 0.3
    trainer = _dpo_trainer(model, tokenizer, tmp_path, beta=beta)
    policy = trainer.model
    _move_adapter(policy)  # away from the reference, as training would
    batch = next(iter(trainer.get_train_dataloader()))
    policy.train()
    with torch.no_grad():
        theirs = trainer.compute_loss(policy, batch).item()
    ours = preference.dpo_terms_on_trl_batch(policy, batch, beta)
    logged = {k: v[-1] for k, v in trainer._metrics["train"].items()}
    assert abs(ours.loss.item() - theirs) < 1e-5
    assert abs(ours.loss.item() - math.log(2)) > 1e-3  # the adapter really moved the policy
    assert ours.chosen_rewards.mean().item() == pytest.approx(logged["rewards/chosen"], abs=1e-5)
    assert ours.rejected_rewards.mean().item() == pytest.approx(
        logged["rewards/rejected"], abs=1e-5
    )
    assert ours.margins.mean().item() == pytest.approx(logged["rewards/margins"], abs=1e-5)


def _dpo_trainer(model, tokenizer, tmp_path, rows=PAIRS, **settings):
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    return DPOTrainer(
        model=copy.deepcopy(model),
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(rows),
        peft_config=LoraConfig(
            r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0
        ),
        args=DPOConfig(
            output_dir=str(tmp_path),
            per_device_train_batch_size=4,
            use_cpu=True,
            bf16=False,
            gradient_checkpointing=False,
            report_to=[],
            **settings,
        ),
    )


def _move_adapter(policy) -> None:
    torch.manual_seed(0)
    moved = 0
    with torch.no_grad():
        for name, parameter in policy.named_parameters():
            if "lora_B" in name and parameter.requires_grad:
                parameter.normal_(0, 0.5)
                moved += 1
    assert moved > 0, [n for n, _ in policy.named_parameters() if "lora" in n]


@pytest.mark.parametrize("chat", [True, False])
def test_pair_logprobs_tokenize_as_trl_does(tiny_decoder, tmp_path, chat):
    """The held-out measurement encodes prompt + answer exactly as DPOTrainer does, in both of
    TRL's layouts (chat turns and plain strings)."""
    model, tokenizer = tiny_decoder
    rows = [dict(zip(PAIRS, values, strict=True)) for values in zip(*PAIRS.values(), strict=True)]
    trainer = _dpo_trainer(model, tokenizer, tmp_path, preference.pair_columns(rows, chat))
    policy = trainer.model
    _move_adapter(policy)
    batch = next(iter(trainer.get_eval_dataloader(trainer.train_dataset)))  # in order
    from_trl = preference.dpo_terms_on_trl_batch(policy, batch, beta=1.0)
    ours = preference.pair_logprobs(policy, tokenizer, rows, chat, batch_size=3)
    assert torch.allclose(ours.chosen - ours.reference_chosen, from_trl.chosen_rewards, atol=1e-5)
    assert torch.allclose(
        ours.rejected - ours.reference_rejected, from_trl.rejected_rewards, atol=1e-5
    )
    assert ours.terms(1.0).accuracy == from_trl.accuracy


def test_drift_is_zero_at_the_start_and_grows_when_the_adapter_moves(tiny_decoder, tmp_path):
    model, tokenizer = tiny_decoder
    policy = _dpo_trainer(model, tokenizer, tmp_path).model
    prompts = PAIRS["prompt"]
    at_start = preference.kl_per_token_to_reference(policy, tokenizer, prompts, True, 6)
    assert at_start == pytest.approx(0.0, abs=1e-7)
    _move_adapter(policy)
    assert preference.kl_per_token_to_reference(policy, tokenizer, prompts, True, 6) > 1e-3


def test_the_sft_model_is_a_clean_start_for_dpo(tiny_decoder, tmp_path):
    """SFTTrainer patches the model's forward with a closure over the original model; the
    merged copy must train its own new adapter (TRL's DPOTrainer got no gradient without the
    fix)."""
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = tiny_decoder
    rows = [dict(zip(PAIRS, values, strict=True)) for values in zip(*PAIRS.values(), strict=True)]
    sft = SFTTrainer(
        model=copy.deepcopy(model),
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict(preference.sft_columns(rows, chat=True)),
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
        args=SFTConfig(
            output_dir=str(tmp_path / "sft"),
            max_steps=2,
            per_device_train_batch_size=4,
            use_cpu=True,
            bf16=False,
            gradient_checkpointing=False,
            report_to=[],
        ),
    )
    sft.train()
    merged = preference.merged_sft_model(sft)
    assert "forward" not in merged.__dict__ and not hasattr(merged, "peft_config")
    dpo = _dpo_trainer(merged, tokenizer, tmp_path / "dpo", max_steps=1)
    batch = next(iter(dpo.get_train_dataloader()))
    loss = dpo.compute_loss(dpo.model, batch)
    loss.backward()
    grads = [p.grad for n, p in dpo.model.named_parameters() if "lora_A" in n]
    assert grads and all(g is not None for g in grads)


def test_style_rates_separate_form_correctness_and_ending():
    from course_utils.core.evaluation import Reply

    chosen = ["The sum is 8.", "The capital of Spain is Madrid.", "The review is positive."]
    replies = [
        Reply("The sum is 8.", True),  # the preferred form
        Reply("Madrid", True),  # correct, bare
        Reply("The review is negative. The", False),  # wrong, and cut off
    ]
    rates = preference.style_rates(replies, chosen)
    assert rates == pytest.approx(
        {"preferred_form": 1 / 3, "full_sentence": 1 / 3, "correct": 2 / 3, "ended": 2 / 3}
    )
    assert preference.answer_word("The sum is 8.") == "8" == preference.answer_word(" 8 ")
    with pytest.raises(ValueError, match="as many replies"):
        preference.style_rates(replies, chosen[:2])


def test_within_length_keeps_the_pairs_that_fit(tiny_decoder):
    _, tokenizer = tiny_decoder
    rows = [
        {"prompt": "Name a fruit.", "chosen": "A pear.", "rejected": "car"},
        {"prompt": "Name a fruit.", "chosen": "A pear. " * 40, "rejected": "car"},
        {"prompt": "Name a colour.", "chosen": "Red.", "rejected": "dog"},
    ]
    kept = preference.within_length(rows, tokenizer, 32, chat=True)
    assert [r["chosen"] for r in kept] == ["A pear.", "Red."]
    assert len(preference.within_length(rows, tokenizer, 32, chat=True, limit=1)) == 1


def test_reward_scores_read_the_last_real_token(tiny_decoder):
    """Scores do not depend on how much padding a batch adds (the head reads the last token
    that is not padding)."""
    from transformers import MistralForSequenceClassification

    model, tokenizer = tiny_decoder
    torch.manual_seed(0)
    reward_model = MistralForSequenceClassification(copy.deepcopy(model.config)).eval()
    prompts = ["Name a fruit.", "What is 3 plus 4?"]
    answers = ["A pear is a fruit, and so is an apple.", "7"]
    together = preference.reward_scores(reward_model, tokenizer, prompts, answers, chat=True)
    alone = preference.reward_scores(reward_model, tokenizer, prompts[1:], answers[1:], chat=True)
    assert together.shape == (2,)
    assert together[1].item() == pytest.approx(alone[0].item(), abs=1e-5)


def test_bundled_pairs_have_a_disjoint_test_split():
    from course_utils.core import paths

    folder = paths.data_dir() / "preferences"
    train = [json.loads(line) for line in (folder / "train.jsonl").open()]
    test = [json.loads(line) for line in (folder / "test.jsonl").open()]
    assert len(train) == 1200 and len(test) == 100
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in test}


def test_sft_columns_mix_chosen_and_rejected_answers_by_share():
    rows = [{"prompt": f"p{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(400)]
    plain = preference.sft_columns(rows, chat=False)
    assert plain == {
        "prompt": [r["prompt"] for r in rows],
        "completion": [r["chosen"] for r in rows],
    }
    mixed = preference.sft_columns(rows, chat=False, chosen_share=0.5, seed=3)
    good = sum(c.startswith("good") for c in mixed["completion"])
    assert 150 < good < 250 and mixed == preference.sft_columns(rows, False, 0.5, seed=3)
    chat = preference.sft_columns(rows[:1], chat=True, chosen_share=0.0)
    assert chat["completion"] == [[{"role": "assistant", "content": "bad 0"}]]
    with pytest.raises(ValueError, match="chosen_share = 1.5"):
        preference.sft_columns(rows, chat=False, chosen_share=1.5)


def test_drift_on_given_answers_matches_drift_on_own_replies(tiny_decoder, tmp_path):
    """``kl_per_token_on`` measures the drift on any answers; on the policy's own greedy replies
    it is ``kl_per_token_to_reference``, and it is 0 while the adapter adds nothing."""
    from course_utils.core.evaluation import generate_replies

    model, tokenizer = tiny_decoder
    policy = _dpo_trainer(model, tokenizer, tmp_path).model
    prompts, answers = PAIRS["prompt"], PAIRS["chosen"]
    assert preference.kl_per_token_on(policy, tokenizer, prompts, answers, True) == pytest.approx(
        0.0, abs=1e-7
    )
    _move_adapter(policy)
    own = [r.text for r in generate_replies(policy, tokenizer, prompts, 6, chat=True)]
    on_own = preference.kl_per_token_on(policy, tokenizer, prompts, own, True, batch_size=3)
    assert on_own == pytest.approx(
        preference.kl_per_token_to_reference(policy, tokenizer, prompts, True, 6), rel=1e-6
    )
    assert preference.kl_per_token_on(policy, tokenizer, prompts, answers, True) > 1e-3


def test_measure_policy_reads_a_dpo_policy_on_held_out_pairs(tiny_decoder, tmp_path):
    model, tokenizer = tiny_decoder
    rows = [dict(zip(PAIRS, values, strict=True)) for values in zip(*PAIRS.values(), strict=True)]
    policy = _dpo_trainer(model, tokenizer, tmp_path).model
    row, replies = preference.measure_policy(policy, tokenizer, rows, True, 6, beta=0.1)
    assert len(replies) == len(rows) and "preferred_form" not in row  # no `kind`: not mini
    assert row["KL from reference"] == pytest.approx(0.0, abs=1e-7)
    assert row["implicit-reward accuracy"] == 0.0  # every margin is exactly 0 at the start
    plain, _ = preference.measure_policy(
        policy, tokenizer, [r | {"kind": "x"} for r in rows], True, 6
    )
    assert "preferred_form" in plain and "KL from reference" not in plain


def test_the_sweep_is_tabulated_and_read_per_seed():
    runs = {
        (0.1, 0): {"KL from reference": 2.0, "preferred_form": 0.0},
        (0.1, 1): {"KL from reference": 1.0, "preferred_form": 0.2},
        (1.0, 0): {"KL from reference": 0.5, "preferred_form": 0.5},
    }
    table = preference.sweep_table(runs)
    assert table.loc[0.1, "KL from reference"] == pytest.approx(1.5)
    assert list(table["runs"]) == [2, 1]
    assert preference.drift_by_beta(runs, 0) == {0.1: 2.0, 1.0: 0.5}
    assert preference.drift_by_beta(runs, 1) == {0.1: 1.0}


def test_accuracy_by_kind_and_the_stage_arguments():
    from types import SimpleNamespace

    from trl import DPOConfig

    from course_utils.tooling.profiles import resolve_profile

    rows = [{"kind": "format"}, {"kind": "format"}, {"kind": "correctness"}]
    table = preference.accuracy_by_kind(torch.tensor([True, False, True]), rows)
    assert table.loc["format"].item() == 0.5 and table.loc["correctness"].item() == 1.0
    settings = SimpleNamespace(
        profile=resolve_profile("mini"), BATCH_SIZE=4, GRAD_ACCUM=2, MAX_LENGTH=64, seed=7
    )
    args = preference.stage_arguments(settings, DPOConfig, 5, 1e-3, beta=0.3)
    assert (args.max_steps, args.per_device_train_batch_size, args.seed) == (5, 4, 7)
    assert (args.gradient_accumulation_steps, args.max_length, args.beta) == (2, 64, 0.3)
    assert preference.stage_arguments(settings, DPOConfig, 5, 1e-3, seed=3).seed == 3
