"""course_utils.peft_family: every method attaches, trains only itself, and removes to the base;
counts by hand equal peft's on the meta device for the real FLAN-T5 configurations."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from transformers import AutoConfig

from course_utils import peft_family as pf
from course_utils.core import counting, paths
from course_utils.core.experiment import Evaluation, Experiment

IDS = torch.tensor([[5, 6, 7, 1], [8, 9, 1, 0]])
MASK = (IDS != 0).long()
LABELS = torch.tensor([[10, 1], [12, 1]])
CONFIGS = {"flan-t5-base": 247_577_856, "flan-t5-xxl": 11_135_332_352}


def config_path(name: str):
    return paths.data_dir() / "model_configs" / name / "config.json"


@pytest.mark.parametrize("name", CONFIGS)
def test_meta_model_has_the_published_size(name):
    model = counting.meta_model(config_path(name))
    assert counting.total_parameters(model) == CONFIGS[name]
    assert model.lm_head.weight is not model.shared.weight  # FLAN-T5 has its own LM head
    assert next(model.parameters()).device.type == "meta"


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("selective", pf.SELECTIVE_CHOICES)
def test_counts_by_hand_equal_peft_counts(name, selective):
    config = AutoConfig.from_pretrained(config_path(name).parent)
    settings = pf.Settings(num_virtual_tokens=20, lora_rank=16, selective=selective)
    for method in pf.METHODS:
        trainable, total = pf.peft_count(method, config_path(name), settings)
        assert pf.formula_count(method, config, settings) == trainable, method
        assert total == CONFIGS[name] + (trainable if method != "selective" else 0), method


def test_published_lora_count_of_flan_t5_xxl():
    settings = pf.Settings(lora_rank=16)
    trainable, total = pf.peft_count("lora", config_path("flan-t5-xxl"), settings)
    assert (trainable, total) == (18_874_368, 11_154_206_720)


def test_seq2seq_prompt_tuning_allocates_twice_the_rows_it_uses():
    config = AutoConfig.from_pretrained(config_path("flan-t5-base").parent)
    settings = pf.Settings(num_virtual_tokens=10)
    allocated = pf.formula_count("prompt_tuning_random", config, settings)
    used = pf.formula_count("prompt_tuning_random", config, settings, as_peft=False)
    assert allocated == 2 * used == 2 * 10 * 768


@torch.no_grad()
def logits(model):
    return model(input_ids=IDS, attention_mask=MASK, labels=LABELS).logits


def perturb(model) -> None:
    """Move every trainable parameter, as training would."""
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.5 * torch.randn_like(parameter))


SETTINGS = pf.Settings(num_virtual_tokens=3, prompt_encoder_hidden=8, adapter_bottleneck=4)


@pytest.mark.parametrize("method", [m for m in pf.METHODS if m != "prompt_tuning_text"])
def test_each_method_trains_only_itself_and_removes_to_the_base(square_t5, method):
    base = logits(square_t5)
    frozen = {n: p.clone() for n, p in square_t5.named_parameters()}
    model = pf.attach(method, square_t5, replace(SETTINGS, lora_rank=2))
    assert 0 < counting.trainable_parameters(model) < counting.total_parameters(model)
    perturb(model)
    assert not torch.allclose(logits(model), base, atol=1e-4), "the method changes nothing"
    # attach works on a copy: the base model itself is untouched
    assert all(torch.equal(p, frozen[n]) for n, p in square_t5.named_parameters())
    if method == "selective":
        with pytest.raises(ValueError, match="nothing to remove"):
            with pf.removed(method, model):
                pass
        return
    with pf.removed(method, model) as plain:
        assert torch.equal(logits(plain), base)
    assert not torch.allclose(logits(model), base, atol=1e-4), "the method must come back"


def test_text_initialisation_starts_on_the_words(tiny_seq2seq):
    folder, model, tokenizer = tiny_seq2seq
    settings = pf.Settings(num_virtual_tokens=4, init_text="positive review", tokenizer_path=folder)
    wrapped = pf.attach("prompt_tuning_text", model, settings)
    ids = tokenizer("positive review").input_ids  # peft keeps the </s> the tokenizer adds
    start = pf.soft_prompt_vectors(wrapped)
    nearest = pf.nearest_tokens(start, model.get_input_embeddings().weight, tokenizer, k=1)
    assert [row[0] for row in nearest] == tokenizer.convert_ids_to_tokens((ids * 4)[:4])


def test_selective_methods_pick_their_weights(tiny_t5):
    norms = pf.attach("selective", tiny_t5, pf.Settings(selective="layer_norms"))
    names = [n for n, p in norms.named_parameters() if p.requires_grad]
    assert names and all("layer_norm" in n for n in names)
    last = pf.attach("selective", tiny_t5, pf.Settings(selective="last_decoder_block"))
    names = [n for n, p in last.named_parameters() if p.requires_grad]
    assert names and all(n.startswith("decoder.block.0.") for n in names)  # one decoder block
    with pytest.raises(ValueError, match="selective"):
        pf.attach("selective", tiny_t5, pf.Settings(selective="everything"))


def test_unknown_method_names_the_known_ones(tiny_t5):
    with pytest.raises(ValueError, match="prompt_tuning_random"):
        pf.attach("bitfit", tiny_t5, SETTINGS)


def test_mini_task_is_bare_text_with_digit_labels():
    task = pf.mini_task(n_train=50, n_test=20)
    assert task.labels == ("0", "1")
    assert {e.target for e in task.train + task.test} <= {"0", "1"}
    assert not {e.prompt for e in task.train} & {e.prompt for e in task.test}
    assert all("1" not in e.prompt and "positive" not in e.prompt for e in task.test)
    assert all("{text}" in template for template in task.hard_prompts)


def test_methods_train_and_measure_a_method(tiny_seq2seq):
    from course_utils.mini import tasks

    folder, model, tokenizer = tiny_seq2seq
    task = pf.mini_task(n_train=16, n_test=4)
    evaluation = Evaluation(tokenizer, task.test, {"add": tasks.examples("add", "test", 3)})
    experiment = Experiment(model, tokenizer, evaluation, task.train, steps=2, batch_size=4)
    methods = pf.Methods(experiment, pf.Settings(num_virtual_tokens=2))
    outcome = methods.run("lora", lr=1e-2)
    assert outcome.trainable == counting.trainable_parameters(outcome.model)
    assert outcome.old_removed == evaluation.old(model)  # the adapter off: the base exactly
    assert outcome.seconds > 0 and outcome.new == evaluation.new(outcome.model)
    prompt = methods.run("prompt_tuning_random", lr=0.1)
    assert prompt.start.shape == (2, model.config.d_model)
    assert not torch.equal(prompt.start, pf.soft_prompt_vectors(prompt.model))  # it trained


def test_full_fine_tuning_trains_every_weight_and_cannot_be_removed(square_t5):
    model = pf.attach(pf.FULL, square_t5, SETTINGS)
    assert counting.trainable_parameters(model) == counting.total_parameters(square_t5)
    assert model is not square_t5
    with pytest.raises(ValueError, match="nothing to remove"):
        with pf.removed(pf.FULL, model):
            pass


def test_methods_score_with_the_given_metric_and_keeps_the_losses(tiny_seq2seq):
    from course_utils.mini import tasks

    folder, model, tokenizer = tiny_seq2seq
    task = pf.mini_task(n_train=16, n_test=4)
    evaluation = Evaluation(
        tokenizer,
        task.test,
        {"add": tasks.examples("add", "test", 3)},
        score=lambda predictions, targets: 0.25,
    )
    experiment = Experiment(model, tokenizer, evaluation, task.train, steps=3, batch_size=4)
    settings = pf.Settings(lora_rank=2, lora_alpha=4, lora_rslora=True)
    outcome = pf.Methods(experiment, settings, measure_removed=False).run("lora", lr=1e-2)
    assert outcome.new == 0.25 and outcome.old_removed is None and len(outcome.losses) == 3
    assert outcome.model.peft_config["default"].use_rslora


def test_label_share_counts_old_answers_that_are_new_labels(tiny_seq2seq, monkeypatch):
    from course_utils.core.examples import Example

    folder, model, tokenizer = tiny_seq2seq
    tests = {"a": [Example("a", "x", "y")] * 3, "b": [Example("b", "z", "w")]}
    monkeypatch.setattr(pf, "generate_answers", lambda m, t, prompts: ["1", " 0 ", "cat", "10"])
    assert pf.label_share(model, tokenizer, tests, ("0", "1")) == 0.5


def test_a_new_head_trains_only_the_head_on_a_frozen_body(tiny_seq2seq):
    folder, model, tokenizer = tiny_seq2seq
    task = pf.mini_task(n_train=16, n_test=6)
    frozen = pf.train_new_head(folder, tokenizer, task, True, 1e-2, steps=2, batch_size=4)
    head = frozen.model.classification_head
    assert frozen.trainable == sum(p.numel() for p in head.parameters())
    assert head.out_proj.out_features == len(task.labels)
    assert 0.0 <= frozen.new <= 1.0
    # the body kept the seq2seq model's weights exactly
    body = frozen.model.transformer.encoder.block[0].layer[0].SelfAttention.q.weight
    assert torch.equal(body, model.encoder.block[0].layer[0].SelfAttention.q.weight)
    whole = pf.train_new_head(folder, tokenizer, task, False, 1e-3, steps=1, batch_size=4)
    assert whole.trainable == sum(p.numel() for p in whole.model.parameters())
    with pytest.raises(ValueError, match="steps"):
        pf.train_new_head(folder, tokenizer, task, True, 1e-2, steps=0, batch_size=4)


def test_class_batch_gives_each_example_its_label_index(tiny_seq2seq):
    from course_utils.core.examples import Example

    folder, model, tokenizer = tiny_seq2seq
    batch = pf.class_batch(tokenizer, [Example("t", "good", "1"), Example("t", "bad", "0")], "01")
    assert batch["labels"].tolist() == [1, 0]
    assert batch["input_ids"].shape == batch["attention_mask"].shape


def test_count_table_agrees_with_peft_and_accuracy_over_seeds_reuses_the_known_run(tiny_seq2seq):
    from course_utils.mini import tasks

    counts = pf.count_table(SETTINGS, models=("flan-t5-base",))
    assert (counts["peft"] == counts["by hand"]).all() and len(counts) == len(pf.METHODS)
    folder, model, tokenizer = tiny_seq2seq
    task = pf.mini_task(n_train=16, n_test=4)
    evaluation = Evaluation(tokenizer, task.test, {"add": tasks.examples("add", "test", 3)})
    experiment = Experiment(model, tokenizer, evaluation, task.train, steps=1, batch_size=4)
    methods = pf.Methods(experiment, pf.Settings(num_virtual_tokens=2), seed=5)
    known = methods.run("prompt_tuning_random", lr=0.1)
    known.curve[-1][1]["new"] = 0.123  # a value no run gives: the table must show it
    table = pf.accuracy_over_seeds(
        methods,
        ["prompt_tuning_random"],
        {"prompt_tuning_random": 0.1},
        [5, 6],
        {"prompt_tuning_random": known},
    )
    assert list(table.index) == [5, 6, "mean", "std"]
    assert table.loc[5, "prompt_tuning_random"] == 0.123


def test_train_each_tables_and_figures_of_the_notebook(tiny_seq2seq, capsys):
    import matplotlib

    matplotlib.use("Agg")
    from course_utils.mini import tasks

    folder, model, tokenizer = tiny_seq2seq
    task = pf.mini_task(n_train=16, n_test=4)
    evaluation = Evaluation(tokenizer, task.test, {"add": tasks.examples("add", "test", 3)})
    experiment = Experiment(model, tokenizer, evaluation, task.train, steps=1, batch_size=4)
    methods = pf.Methods(experiment, pf.Settings(num_virtual_tokens=2, lora_rank=2))
    names = ("prompt_tuning_random", "lora")
    outcomes, shares = pf.train_each(methods, names, dict.fromkeys(names, 1e-2), task.labels)
    assert list(outcomes) == list(shares) == list(names)
    assert all(o.model is None for o in outcomes.values())  # nothing kept unless asked
    assert capsys.readouterr().out.count("trainable") == 2
    table = pf.method_table(outcomes, 0.25, 0.5, counting.total_parameters(model))
    assert list(table.index) == ["hard prompt (best)", *names]
    assert table.loc["lora", "trainable"] == outcomes["lora"].trainable
    share = 100 * outcomes["lora"].trainable / counting.total_parameters(model)
    assert table.loc["lora", "% of model"] == round(share, 4)
    fig = pf.plot_accuracy_vs_parameters(outcomes, 0.25, "t", chance=0.5)
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(names)
    fig = pf.plot_prompt_lengths({1: 0.5, 5: 0.75}, 0.25, 0.5)
    assert len(fig.axes[0].lines) == 3  # the curve, the hard prompt, chance


def test_labels_that_would_overprint_are_moved_apart():
    points = {"a_long_name": (1000, 0.9), "another": (1100, 0.9), "far": (90000, 0.9)}
    heights = pf._label_heights(points, step=0.04)
    assert abs(heights["a_long_name"] - heights["another"]) >= 0.04  # one moves down
    assert heights["far"] == 0.9  # nothing near it: it stays by its point


def test_nearest_tokens_table_and_head_table(tiny_seq2seq):
    folder, model, tokenizer = tiny_seq2seq
    embeddings = model.get_input_embeddings().weight.detach()
    start = embeddings[[5, 6, 7]]
    table = pf.nearest_tokens_table(start, start, embeddings, tokenizer, shown=2)
    assert len(table) == 2 and table["cosine start-end"].round(6).tolist() == [1.0, 1.0]
    assert table["nearest before"].tolist() == table["nearest after"].tolist()
    head = pf.HeadOutcome("new head, frozen body", 10, 0.9, 1.0)

    class Known:  # any outcome: the table reads its trainable parameters and accuracy
        trainable, new = 20, 0.8

    rows = pf.head_table({head.name: head}, {"lora": Known()}, ["lora"])
    assert rows.loc["lora", "answers with"] == "text"
    assert rows.loc[head.name, "trainable"] == 10
