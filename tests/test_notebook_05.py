"""Notebook 05 (quantization by hand, QLoRA) executed through the runner in the mini profile."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.notebook

STEM = "05_qlora_mistral_7b_unsloth"
FORMATS = ("int8_absmax", "int8_blockwise", "int4_absmax", "fp4", "nf4", "nf4_double")


def _results(course_run) -> dict:
    return json.loads((course_run / f"{STEM}.results.json").read_text())


def test_05_records_every_result_and_figure(course_run):
    r = _results(course_run)
    for name in FORMATS:
        assert r[f"quant_mae_{name}"] > 0, name
        assert r[f"bits_per_param_{name}"] > 0, name
    for method in ("full_fp32", "full_mixed", "lora_16bit", "qlora"):
        assert r[f"mem_gb_{method}"] > 0, method
    for figure in ("nf4_codebook", "memory_budgets", "qlora_vs_lora_loss"):
        assert (course_run / "figures" / STEM / f"{figure}.png").exists(), figure


def test_05_nf4_is_bitsandbytes_and_beats_int4_absmax(course_run):
    r = _results(course_run)
    assert r["nf4_codebook_max_diff"] <= 1e-6
    assert r["quant_mae_nf4"] < r["quant_mae_int4_absmax"]
    assert r["bits_per_param_nf4_double"] < r["bits_per_param_nf4"]


def test_05_memory_estimator_and_mistral_count(course_run):
    r = _results(course_run)
    assert r["mistral_7b_params"] == 7_241_732_096
    for precision in ("fp32", "bf16", "nf4"):
        assert r[f"estimator_bytes_{precision}"] == r[f"footprint_bytes_{precision}"]
    assert r["mem_gb_qlora"] < 15 < r["mem_gb_lora_16bit"] < r["mem_gb_full_fp32"]
    assert 0.5 < r["mistral_7b_lora_percent"] < 0.6  # "about 0.58 %", not 1-10 %


def test_05_qlora_learns_the_held_out_instructions(course_run):
    r = _results(course_run)
    assert r["acc_qlora"] >= r["acc_base"] + 0.3
    assert r["adapter_reload_same_answers"] is True


def test_05_four_bit_layers_are_a_third_of_float32_or_less(course_run):
    r = _results(course_run)
    assert r["weight_mb_4bit"] < 0.35 * r["weight_mb_fp32"]
    assert 0.0 <= r["acc_lora_fp32"] <= 1.0
