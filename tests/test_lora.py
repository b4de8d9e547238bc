"""course_utils.lora: the from-scratch LoRA layer equals peft's, merges exactly, and the counts by
formula equal peft's on the meta device for the shipped configurations."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoConfig

from course_utils import lora
from course_utils.core import counting

IDS = torch.tensor([[5, 6, 7, 1], [8, 9, 1, 0]])
MASK = (IDS != 0).long()
LABELS = torch.tensor([[10, 1], [12, 1]])


@torch.no_grad()
def logits(model):
    return model(input_ids=IDS, attention_mask=MASK, labels=LABELS).logits


def peft_lora(model, rank, alpha, targets, rslora=False):
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(
        task_type=TaskType.SEQ_2_SEQ_LM,
        r=rank,
        lora_alpha=alpha,
        target_modules=list(targets),
        lora_dropout=0.0,
        use_rslora=rslora,
    )
    return get_peft_model(copy.deepcopy(model), config).eval()


def randomise(peft_model) -> None:
    """Give every B a non-zero value, as training would."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)


def copy_from_peft(ours: dict[str, lora.LoRALinear], theirs) -> None:
    with torch.no_grad():
        for name, layer in ours.items():
            source = theirs.base_model.model.get_submodule(name)
            layer.A.copy_(source.lora_A["default"].weight)
            layer.B.copy_(source.lora_B["default"].weight)


@pytest.mark.parametrize("rslora", [False, True])
def test_lora_linear_equals_peft_with_the_same_a_and_b(tiny_t5, rslora):
    theirs = peft_lora(tiny_t5, rank=4, alpha=8, targets=("q", "v"), rslora=rslora)
    randomise(theirs)
    model = copy.deepcopy(tiny_t5)
    ours = lora.add_lora(model, ("q", "v"), rank=4, alpha=8, rslora=rslora)
    assert set(ours) == {
        n.removeprefix("base_model.model.").removesuffix(".lora_A.default.weight")
        for n, _ in theirs.named_parameters()
        if "lora_A" in n
    }
    copy_from_peft(ours, theirs)
    assert torch.allclose(logits(model), logits(theirs), atol=1e-6)
    scale = 8 / 4**0.5 if rslora else 8 / 4
    assert all(layer.scaling == scale for layer in ours.values())
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith((".A", ".B")) for n in trainable)


def test_lora_starts_at_the_base_exactly(tiny_t5):
    base = logits(tiny_t5)
    model = copy.deepcopy(tiny_t5)
    lora.add_lora(model, ("q", "k", "v", "o"), rank=2, alpha=4)
    assert torch.equal(logits(model), base)


def test_merging_gives_the_unmerged_outputs_and_peft_merge(tiny_t5):
    theirs = peft_lora(tiny_t5, rank=4, alpha=16, targets=("q", "v"))
    randomise(theirs)
    model = copy.deepcopy(tiny_t5)
    copy_from_peft(lora.add_lora(model, ("q", "v"), rank=4, alpha=16), theirs)
    unmerged = logits(model)
    lora.merge_lora(model)
    assert not any(isinstance(m, lora.LoRALinear) for m in model.modules())
    assert torch.allclose(logits(model), unmerged, atol=1e-5)
    peft_merged = theirs.merge_and_unload()
    ours_weights = dict(model.named_parameters())
    for name, weight in peft_merged.named_parameters():
        assert torch.allclose(ours_weights[name], weight, atol=1e-6), name


def test_add_lora_refuses_targets_the_model_does_not_have(tiny_t5):
    with pytest.raises(ValueError, match="q_proj"):
        lora.add_lora(copy.deepcopy(tiny_t5), ("q_proj",), rank=2, alpha=4)


def peft_meta_count(name, targets, rank):
    from peft import LoraConfig, get_peft_model

    model = counting.meta_model(counting.shipped_config(name))
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(targets))
    return get_peft_model(model, config).get_nb_trainable_parameters()


@pytest.mark.parametrize(
    ("name", "targets", "rank", "trainable", "total"),
    [
        ("flan-t5-xxl", ("q", "v"), 16, 18_874_368, 11_154_206_720),
        ("flan-t5-base", ("q", "v"), 32, 3_538_944, 251_116_800),
        (
            "mistral-7b",
            ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
            16,
            41_943_040,
            7_241_732_096 + 41_943_040,
        ),
    ],
)
def test_published_counts_by_formula_and_by_peft(name, targets, rank, trainable, total):
    config = AutoConfig.from_pretrained(counting.shipped_config(name).parent)
    assert lora.lora_parameters(config, targets, rank) == trainable
    assert peft_meta_count(name, targets, rank) == (trainable, total)


def test_formula_knows_every_linear_layer_of_t5(tiny_t5):
    shapes = lora.linear_shapes(tiny_t5.config)
    names = {
        n.rpartition(".")[2] for n, m in tiny_t5.named_modules() if type(m).__name__ == "Linear"
    }
    assert names - {"lm_head"} == set(shapes)
    model = copy.deepcopy(tiny_t5)
    layers = lora.add_lora(model, tuple(shapes), rank=3, alpha=3)
    assert counting.trainable_parameters(model) == lora.lora_parameters(
        tiny_t5.config, tuple(shapes), 3
    )
    assert len(layers) == sum(count for _, _, count in shapes.values())


# ----- notebook 04's measurements -------------------------------------------------------------


def test_peft_twin_holds_the_same_a_and_b_and_gives_the_same_outputs(tiny_t5):
    model = copy.deepcopy(tiny_t5)
    layers = lora.add_lora(model, ("q", "v"), rank=4, alpha=8)
    torch.manual_seed(0)
    with torch.no_grad():
        for layer in layers.values():
            layer.B.normal_(0, 0.5)
    twin = lora.peft_twin(tiny_t5, layers, rank=4, alpha=8)
    assert torch.allclose(logits(model), logits(twin), atol=1e-6)
    assert not torch.allclose(logits(model), logits(tiny_t5), atol=1e-3)  # B moved the outputs


def test_wilson_interval_matches_the_textbook_values():
    low, high = lora.wilson_interval(0.5, 100)
    assert abs(low - 0.4038) < 1e-4 and abs(high - 0.5962) < 1e-4
    low, high = lora.wilson_interval(0.61, 100)  # the cell: not clearly above 0.56
    assert low < 0.56 < 0.61 < high
    assert lora.wilson_interval(0.0, 10)[0] == 0.0 and lora.wilson_interval(1.0, 10)[1] == 1.0
    with pytest.raises(ValueError, match="n = 0"):
        lora.wilson_interval(0.5, 0)
    with pytest.raises(ValueError, match="share"):
        lora.wilson_interval(1.5, 10)


def test_learned_cells_need_the_interval_above_the_floor_and_ranges_read_each_knob():
    import pandas as pd

    grid = pd.DataFrame({4.0: {1: 0.61, 4: 0.70}, 16.0: {1: 0.80, 4: 0.95}})
    learned = lora.learned_cells(grid, 100, floor=0.56)
    assert learned.to_dict() == {4.0: {1: False, 4: True}, 16.0: {1: True, 4: True}}
    assert abs(lora.mean_range(grid, "rows") - (0.09 + 0.15) / 2) < 1e-12  # rank growing
    assert abs(lora.mean_range(grid, "columns") - (0.19 + 0.25) / 2) < 1e-12  # alpha growing
    with pytest.raises(ValueError, match="along"):
        lora.mean_range(grid, "diagonal")
    assert lora.grid_names(grid, "acc") == {
        "acc_r1_a4": 0.61,
        "acc_r1_a16": 0.80,
        "acc_r4_a4": 0.70,
        "acc_r4_a16": 0.95,
    }


def test_update_energy_of_a_rank_two_update_is_all_in_two_directions(tiny_t5):
    after = copy.deepcopy(tiny_t5)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, module in after.named_modules():
            if name.endswith(".q"):
                d_out, d_in = module.weight.shape
                module.weight += torch.randn(d_out, 2) @ torch.randn(2, d_in)
    energy = lora.update_energy(tiny_t5, after, ("q",))
    assert len(energy.columns) == sum(n.endswith(".q") for n, _ in tiny_t5.named_modules())
    assert (energy.loc[1] < 1).all() and (abs(energy.loc[2] - 1) < 1e-9).all()
    noise = lora.random_energy((32, 32), seed=0)
    assert noise.is_monotonic_increasing and abs(noise.iloc[-1] - 1) < 1e-9
    assert noise.loc[2] < 0.3  # no structure: two of 32 directions hold little
    with pytest.raises(ValueError, match="q_proj"):
        lora.update_energy(tiny_t5, after, ("q_proj",))


def test_sweep_reuses_a_setting_and_keeps_a_model_only_when_asked():
    class Outcome:
        model = "trained"

    class Methods:
        calls = 0

        def run(self, method, lr, settings):
            Methods.calls += 1
            return Outcome()

    sweep = lora.Sweep(Methods(), lr=1e-3)
    first = sweep.run(4, 8)
    assert first.model is None and sweep.run(4, 8.0) is first and Methods.calls == 1
    assert sweep.run(4, 8, keep=True).model == "trained" and Methods.calls == 2
    sweep.run(4, 8, lr=1e-4)
    assert Methods.calls == 3


def test_overlap_is_whether_every_interval_shares_a_point():
    assert lora.overlap([0.66, 0.76], 100)  # 0.66's interval reaches 0.75; 0.76's starts 0.67
    assert not lora.overlap([0.50, 0.90], 100)
    assert lora.overlap([0.7], 100)


def test_count_table_is_the_formula_and_peft_on_the_meta_device():
    table = lora.count_table([("flan-t5-xxl", ("q", "v"), 16)])
    row = table.loc["flan-t5-xxl"]
    assert row["by formula"] == row["peft"] == 18_874_368 and row["all params"] == 11_154_206_720
    assert abs(row["trainable %"] - 0.16921300163961817) < 1e-9


def test_compare_targets_matches_budgets_and_reads_every_seed(tiny_t5):
    from dataclasses import dataclass

    @dataclass
    class Outcome:
        new: float
        old: float
        trainable: int
        model: object = None

    @dataclass
    class Experiment:
        base_model: object

    @dataclass
    class Methods:
        experiment: Experiment
        seed: int = 0

        def run(self, method, lr, settings):
            rank = settings.lora_rank
            size = lora.lora_parameters(tiny_t5.config, settings.lora_targets, rank)
            return Outcome(0.5 + 0.1 * self.seed, 0.9, size)

    sweep = lora.Sweep(Methods(Experiment(tiny_t5)), lr=1e-3)
    choices = {"q,v": ("q", "v"), "attention": ("q", "k", "v", "o")}
    table = lora.compare_targets(sweep, choices, qv_rank=4, alpha=8, seeds=[0, 1, 2])
    assert table.loc["q,v", "rank"] == 4 and table.loc["attention", "rank"] == 2
    assert table.loc["q,v", "trainable"] == table.loc["attention", "trainable"]
    assert abs(table.loc["q,v", "mean"] - 0.6) < 1e-12 and abs(table.loc["q,v", "sd"] - 0.1) < 1e-12
    assert len(sweep.runs) == 2  # the sweep's own seed went through the sweep, once per choice
