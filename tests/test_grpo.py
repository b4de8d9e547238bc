"""GRPO from scratch (course_utils/grpo.py, notebook 07's lesson cells) against TRL's
GRPOTrainer on the same batch, and the pieces around it."""

from __future__ import annotations

import copy
import math
from itertools import combinations

import pytest
import torch
from datasets import Dataset

from course_utils import grpo
from course_utils.core.evaluation import generate_replies

PROMPTS = ["What kind of thing is a carrot?", "Name the group that red belongs to."]
ANSWERS = ["vegetable", "colour"]


def test_advantages_are_the_groups_z_scores_and_zero_without_signal():
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    advantages = grpo.group_advantages(rewards, 4)
    sd = torch.tensor([1.0, 0.0, 1.0, 0.0]).std().item()  # Bessel-corrected, as TRL's nanstd
    assert advantages[:4].tolist() == pytest.approx([0.5 / (sd + 1e-4), -0.5 / (sd + 1e-4)] * 2)
    assert advantages[4:].tolist() == [0.0] * 4
    assert grpo.group_advantages(rewards, 4, scale=False)[:2].tolist() == [0.5, -0.5]
    assert grpo.no_signal_share(rewards, 4) == 0.5


@pytest.mark.parametrize(
    ("value", "group_size", "groups"),
    [(1000.1, 3, 2), (0.7, 8, 2), (1.0 - 0.3 * 2, 8, 1), (0.9, 3, 4)],  # the last two: shaped
)
def test_a_group_of_equal_rewards_gets_exact_zeros_when_its_mean_is_inexact(
    value, group_size, groups
):
    """In float32 the mean of six rewards of 1000.1 is not 1000.1: without the all-equal test the
    two groups of 3 got 0.61 each (0.7 or shaped rewards in groups of 8: about 6e-4)."""
    rewards = torch.full((group_size * groups,), value)
    assert grpo.group_advantages(rewards, group_size).tolist() == [0.0] * rewards.numel()
    assert grpo.group_advantages(rewards, group_size, scale=False).abs().max().item() == 0.0


def test_mixed_groups_keep_their_z_scores_next_to_an_equal_group():
    torch.manual_seed(0)
    mixed = torch.rand(16) * 2 - 0.3
    rewards = torch.cat([mixed, torch.full((8,), 1000.1)])
    groups = mixed.reshape(-1, 8)
    expected = (groups - groups.mean(1, keepdim=True)) / (groups.std(1, keepdim=True) + 1e-4)
    advantages = grpo.group_advantages(rewards, 8)
    assert torch.equal(advantages[:16], expected.flatten())
    assert advantages[16:].abs().max().item() == 0.0


def test_the_clip_stops_the_objective_beyond_one_plus_or_minus_epsilon():
    ratios = torch.tensor([[0.5, 0.9, 1.0, 1.1, 1.5]])
    old = torch.zeros_like(ratios)
    up = grpo.clipped_objective(ratios.log(), old, torch.tensor([1.0]), 0.2)[0]
    down = grpo.clipped_objective(ratios.log(), old, torch.tensor([-1.0]), 0.2)[0]
    assert up.tolist() == pytest.approx([0.5, 0.9, 1.0, 1.1, 1.2])
    assert down.tolist() == pytest.approx([-0.8, -0.9, -1.0, -1.1, -1.5])


def test_the_kl_estimate_is_never_negative_and_zero_where_the_models_agree():
    logps = torch.linspace(-5, 0, 11)
    assert (grpo.per_token_kl(logps, logps.flip(0)) >= 0).all()
    assert grpo.per_token_kl(logps, logps).abs().max().item() == 0.0


def test_pass_at_k_is_the_direct_count():
    for samples, correct, k in ((8, 2, 4), (8, 0, 8), (8, 1, 1), (6, 5, 2)):
        flags = [1] * correct + [0] * (samples - correct)
        draws = list(combinations(range(samples), k))
        direct = sum(any(flags[i] for i in d) for d in draws) / len(draws)
        assert grpo.pass_at_k(correct, samples, k) == pytest.approx(direct)
    with pytest.raises(ValueError, match="k = 9"):
        grpo.pass_at_k(1, 8, 9)


def test_sampled_replies_come_grouped_by_prompt(tiny_decoder):
    """Near zero temperature each sample is the prompt's greedy reply, so each run of
    ``samples`` replies shows which prompt it answers (the longer prompt first: generation
    sorts prompts by length, and the replies must come back in the order given)."""
    model, tokenizer = copy.deepcopy(tiny_decoder[0]), tiny_decoder[1]
    with torch.no_grad():  # large weights: a random model whose replies depend on the prompt
        for parameter in model.parameters():
            parameter.mul_(40)
    prompts = ["Name the group that red belongs to, please.", "A carrot?", "Is 3 odd?"]
    greedy = [r.text for r in generate_replies(model, tokenizer, prompts, max_new_tokens=4)]
    assert len(set(greedy)) == len(prompts)  # otherwise the check below could not tell
    torch.manual_seed(0)
    sampled = generate_replies(
        model, tokenizer, prompts, max_new_tokens=4, samples=3, temperature=1e-4
    )
    assert [r.text for r in sampled] == [text for text in greedy for _ in range(3)]


def _reward(completions, answer, **kwargs):
    """Varied on a random model's replies (an exact-match reward would be 0 for every one)."""
    return [sum(map(ord, t)) % 7 / 7 for t in grpo.reply_texts(completions)]


def _trainer(model, tokenizer, tmp_path, beta, reward=_reward, group_size=4):
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    data = Dataset.from_dict(
        {"prompt": [[{"role": "user", "content": p}] for p in PROMPTS], "answer": ANSWERS}
    )
    return GRPOTrainer(
        model=copy.deepcopy(model),
        reward_funcs=reward,
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0),
        args=GRPOConfig(
            output_dir=str(tmp_path),
            per_device_train_batch_size=2 * group_size,
            num_generations=group_size,
            max_completion_length=6,
            beta=beta,
            use_cpu=True,
            bf16=False,
            gradient_checkpointing=False,
            report_to=[],
        ),
    )


@pytest.mark.parametrize("beta", [0.0, 0.3])
def test_from_scratch_grpo_equals_trl_on_the_same_batch(tiny_decoder, tmp_path, beta):
    """Loss and gradient, with the adapter moved off the reference (a non-zero KL) and "old"
    log-probabilities that differ from the current ones (the ratio and the clip at work): the
    comparison notebook 07 shows, by the same function."""
    model, tokenizer = tiny_decoder
    trainer = _trainer(model, tokenizer, tmp_path, beta)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in trainer.model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.3)
    rows = [
        {"prompt": [{"role": "user", "content": p}], "answer": a}
        for p, a in zip(PROMPTS, ANSWERS, strict=True)
    ]
    rows = [r for r in rows for _ in range(4)]
    trainer.model.train()
    batch = grpo.trl_batch(trainer, rows, seed=1)
    table = grpo.trl_comparison(trainer, batch, _reward, rows, seed=2, old_shift=0.5)
    for shift, gaps in zip((0.0, 0.5), table.to_dict().values(), strict=True):
        assert gaps["reward spread"] > 0 and gaps["advantage gap"] < 1e-6
        assert gaps["loss gap"] < 1e-5 and gaps["largest gradient gap"] < 1e-5
        assert gaps["largest gradient"] > 1e-4
        assert (gaps["mean KL per token"] > 1e-4) == bool(beta)
        assert (gaps["share of tokens clipped"] > 0) == bool(shift)
    assert abs(gaps["TRL's loss"]) > 1e-4  # shifted ratios: more than a zero on-policy loss


def test_trl_gives_equal_groups_an_advantage_where_ours_gives_zero(tiny_decoder, tmp_path):
    """What TRL 1.14 does with groups of equal rewards whose float32 mean is inexact: its
    advantages (``_generate_and_score_completions``, the ones its loss uses) are (r - mean) /
    (sd + 1e-4) with no all-equal test: 0.35 for two groups of 3 rewards of 1000.1 (ours: exactly
    0). TRL still logs such a group as one with no signal (``frac_reward_zero_std``: isclose)."""

    def constant(completions, **kwargs):
        return [1000.1] * len(completions)

    trainer = _trainer(*tiny_decoder, tmp_path, 0.0, reward=constant, group_size=3)
    rows = [
        {"prompt": [{"role": "user", "content": p}], "answer": a}
        for p, a in zip(PROMPTS, ANSWERS, strict=True)
    ]
    batch = grpo.trl_batch(trainer, [r for r in rows for _ in range(3)], seed=0)
    theirs = batch["advantages"].abs()
    assert theirs.min().item() == pytest.approx(0.35, abs=0.01)  # TRL: not zero
    ours = grpo.group_advantages(torch.full((6,), 1000.1), 3)
    assert ours.abs().max().item() == 0.0


def test_a_reply_that_matches_the_reference_has_no_drift(tiny_decoder):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = tiny_decoder
    policy = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, target_modules="all-linear"))
    torch.manual_seed(0)
    assert grpo.kl_per_reply_to_reference(policy, tokenizer, PROMPTS, 4) == pytest.approx(
        0.0, abs=1e-6
    )
    with torch.no_grad():
        for name, parameter in policy.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    torch.manual_seed(0)
    assert grpo.kl_per_reply_to_reference(policy, tokenizer, PROMPTS * 4, 4) > 0.0
    assert math.isfinite(grpo.kl_per_reply_to_reference(policy, tokenizer, PROMPTS, 4))


def _short_run(model, tokenizer, callbacks=(), **overrides):
    from course_utils.core.profiles import MINI

    data = Dataset.from_dict(
        {"prompt": [[{"role": "user", "content": p}] for p in PROMPTS], "answer": ANSWERS}
    )
    return grpo.train(
        model,
        tokenizer,
        data,
        _reward,
        MINI,
        seed=0,
        steps=2,
        prompts_per_step=2,
        group_size=2,
        learning_rate=1e-2,
        beta=0.1,
        epsilon=0.2,
        max_completion_length=4,
        lora_rank=2,
        callbacks=callbacks,
        **overrides,
    )


def test_a_run_keeps_its_adapter_at_each_step_and_restores_it(tiny_decoder):
    from course_utils import recipes

    model, tokenizer = tiny_decoder
    snapshots = recipes.adapter_snapshots(1)
    run = _short_run(copy.deepcopy(model), tokenizer, [snapshots], weight_decay=0.25)
    assert run.trainer.args.weight_decay == 0.25  # an override reaches GRPOConfig
    assert run.trainer.args.logging_steps == 1
    assert sorted(snapshots.states) == [0, 1, 2]
    start = snapshots.states[0]
    assert all(v.device.type == "cpu" for v in start.values())
    assert any((snapshots.states[2][k] - v).abs().max() > 0 for k, v in start.items())
    snapshots.restore(run.model, 0)
    with run.model.disable_adapter():  # at step 0 the adapter adds nothing (B = 0)
        reference = run.model(torch.tensor([[1, 2, 3]])).logits
    assert torch.allclose(run.model(torch.tensor([[1, 2, 3]])).logits, reference)
    with pytest.raises(ValueError, match="every = 0"):
        recipes.adapter_snapshots(0)


def test_a_model_with_its_own_adapter_keeps_it(tiny_decoder):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = tiny_decoder
    policy = get_peft_model(copy.deepcopy(model), LoraConfig(r=3, target_modules=["q_proj"]))
    run = _short_run(policy, tokenizer)
    ranks = {m.r["default"] for m in run.model.modules() if hasattr(m, "lora_A") and m.r}
    assert ranks == {3}  # not lora_rank's 2 on every linear layer


def test_an_override_that_would_break_the_groups_is_refused(tiny_decoder):
    model, tokenizer = tiny_decoder
    with pytest.raises(
        ValueError, match="override num_generations=3: set by train\\(\\)'s 'group_size'"
    ):
        _short_run(copy.deepcopy(model), tokenizer, num_generations=3)
    with pytest.raises(ValueError, match="override weight_decai=0.1: GRPOConfig has no such field"):
        _short_run(copy.deepcopy(model), tokenizer, weight_decai=0.1)


# ----- notebook 07's rewards, task split and measurements ----------------------------------------


def test_the_rewards_check_the_answer():
    assert grpo.numbers("12 apples, 1,250 pears and -3.5 kg") == [12.0, 1250.0, -3.5]
    assert grpo.final_number("so 12 + 30 = 42.") == 42.0
    assert grpo.final_number("it is 7 #### 1,250 (apples) and 3") == 1250.0
    assert grpo.final_number("no number") is None
    assert grpo.exact_answer(["vegetable", " Vegetable ", "fruit"], ["vegetable"] * 3) == [1, 1, 0]
    replies = ["... so 12 + 30 = 42.", "#### 1,250", "18.00", "no idea"]
    assert grpo.numeric_answer(replies, ["#### 42", "#### 1250", "#### 18", "7"]) == [1, 1, 1, 0]


def test_the_loophole_reward_pays_silence_and_the_control_does_not():
    answers = ["vegetable"] * 5
    replies = ["", "vegetable", "veg", "fruit", "a long vegetable"]
    loophole = grpo.brevity_reward(0.3, close_loophole=False)(replies, answers)
    control = grpo.brevity_reward(0.3, close_loophole=True)(replies, answers)
    assert loophole == pytest.approx([1.0, 0.7, 0.7, -0.3, -0.9])
    assert control == pytest.approx([-0.3, 0.7, 0.7, -0.3, -0.9])  # empty = a wrong word
    assert max(range(5), key=lambda i: loophole[i]) == 0  # the loophole: silence wins
    assert grpo.brevity_reward(0.3, True).__name__ == "control_reward"
    gsm = "3 + 4 = 7 #### 7"  # worked solutions: the lenient checker accepts any of its numbers
    assert grpo.part_of_answer("3", gsm) and not grpo.part_of_answer("", gsm)
    use = grpo.loophole_use(replies, answers, grpo.exact_answer)
    assert use == {"exact accuracy": 0.2, "loophole used": 0.4, "empty replies": 0.2}


def test_the_kind_task_is_split_by_word():
    from course_utils.mini import vocabulary

    split = grpo.kind_split(0, 2)
    assert (len(split["train"]), len(split["test"])) == (180, 60)  # 36 and 12 words, 5 phrasings
    words = {w for ws in vocabulary.CATEGORIES.values() for w in ws}

    def named(rows):
        return {w for p, _ in rows for w in words if f" {w} " in f" {p.rstrip('?.')} "}

    assert not named(split["train"]) & named(split["test"])
    assert len(named(split["test"])) == 12
    assert grpo.kind_split(1, 2)["test"] != split["test"]  # the words are drawn with the seed
    with pytest.raises(ValueError, match="held_out_per_category = 8: must be 1 to 7"):
        grpo.kind_split(0, 8)


def test_accuracy_by_answer_and_the_adapters_start(tiny_decoder):
    from peft import LoraConfig, get_peft_model

    answers = ["fruit", "fruit", "tool"]
    assert grpo.by_answer(["fruit", "x", "tool"], answers, grpo.exact_answer) == {
        "fruit": 0.5,
        "tool": 1.0,
    }
    policy = get_peft_model(
        copy.deepcopy(tiny_decoder[0]), LoraConfig(r=2, target_modules="all-linear")
    )
    assert grpo.lora_b_largest(policy) == 0.0  # B starts at 0


def test_sampled_accuracy_and_pass_at_k_by_answer(tiny_decoder):
    model, tokenizer = tiny_decoder
    args = (grpo.exact_answer, 4, 3, 0)
    measured = grpo.sampled_accuracy(model, tokenizer, PROMPTS, ANSWERS, *args)
    assert set(measured) == {"greedy", "pass@1", "pass@4", "no-signal groups", "empty replies"}
    assert measured["pass@4"] >= measured["pass@1"] and measured["no-signal groups"] == 1.0
    assert grpo.pass_at_k_by_answer(model, tokenizer, PROMPTS, ANSWERS, *args) == {
        "colour": 0.0,
        "vegetable": 0.0,
    }


def test_no_batch_with_signal_is_said(tiny_decoder, tmp_path, capsys):
    def constant(completions, **kwargs):
        return [1.0] * len(completions)

    trainer = _trainer(*tiny_decoder, tmp_path, 0.0, reward=constant)
    data = Dataset.from_dict(
        {"prompt": [[{"role": "user", "content": p}] for p in PROMPTS], "answer": ANSWERS}
    )
    rows, batch = grpo.first_batch_with_signal(trainer, data, 2, seed=0, tries=1)
    assert "no batch with signal in 1 tries" in capsys.readouterr().out
    assert len(rows) == 8 and batch["advantages"].abs().max().item() == 0.0


def test_a_run_with_a_notebooks_settings_and_its_figures(tiny_decoder):
    from types import SimpleNamespace

    import pandas as pd

    from course_utils.core.profiles import MINI

    model, tokenizer = tiny_decoder
    settings = SimpleNamespace(
        MODEL=None, seed=0, TRAIN_STEPS=5, PROMPTS_PER_STEP=2, NUM_GENERATIONS=2,
        LEARNING_RATE=1e-2, BETA=0.1, EPSILON=0.2, MAX_COMPLETION_TOKENS=3, LORA_RANK=2,
        profile=MINI,
    )  # fmt: skip
    data = grpo.chat_dataset(PROMPTS, ANSWERS, seed=0)
    run = grpo.run_with(settings, tokenizer, data, _reward, model=copy.deepcopy(model), steps=2)
    assert run.trainer.args.max_steps == 2 and run.trainer.args.num_generations == 2
    assert len(run.history) == 2
    curves = grpo.plot_training_curves({0: run}, 2, 3)
    assert sum(ax.get_visible() for ax in curves.axes) == 4 and curves.legends
    assert curves._suptitle.get_text().startswith("GRPOTrainer, 2 steps")
    sweep = pd.DataFrame(
        {"KL per reply": [1.0, 0.1], "held-out accuracy": [0.8, 0.3]},
        index=pd.MultiIndex.from_tuples([(0.04, 0), (1.0, 0)], names=["beta", "seed"]),
    )
    title = grpo.plot_beta_sweep(sweep, 5).axes[0].get_title()
    assert title == "held-out accuracy vs drift (KL per reply)\n5 steps, 1 seed per β"
