"""course_utils.quantization: the worked example, blocks, and NF4 against bitsandbytes."""

from __future__ import annotations

import pytest
import torch

from course_utils import quantization as q

COURSE_VECTOR = torch.tensor([2.8912, -0.1244, 4.1234, 1.9876, -1.4567])


def test_absmax_on_the_course_vector():
    codes, scale = q.absmax_quantize(COURSE_VECTOR)
    assert codes.tolist() == [89, -4, 127, 61, -45]
    assert scale.item() == pytest.approx(127 / 4.1234)
    error = (q.absmax_dequantize(codes, scale) - COURSE_VECTOR).abs()
    assert error.max() <= 0.5 / scale + 1e-6  # at most half a step


def test_zero_point_uses_the_whole_code_range():
    codes, scale, zero_point = q.zeropoint_quantize(COURSE_VECTOR)
    assert codes.min().item() == -128 and codes.max().item() == 127
    assert scale.item() == pytest.approx(255 / (4.1234 + 1.4567))
    assert zero_point.item() == -61
    error = (q.zeropoint_dequantize(codes, scale, zero_point) - COURSE_VECTOR).abs()
    assert error.max() <= 1 / scale + 1e-6


def test_blockwise_keeps_an_outlier_in_its_block():
    torch.manual_seed(0)
    x = torch.randn(4, 64) * 0.01
    x[0, 0] = 10.0
    whole = q.absmax_dequantize(*q.absmax_quantize(x))
    blocks = q.blockwise_absmax_dequantize(*q.blockwise_absmax(x, 64), 64)
    assert (blocks[1:] - x[1:]).abs().mean() < 0.05 * (whole[1:] - x[1:]).abs().mean()
    with pytest.raises(ValueError, match="block=48"):
        q.blockwise_absmax(x, 48)


def bnb_functional():
    return pytest.importorskip("bitsandbytes.functional")


def test_nf4_codebook_equals_bitsandbytes():
    functional = bnb_functional()
    theirs = functional.get_4bit_type("nf4", device="cpu")
    ours = q.nf4_codebook()
    assert ours.shape == (16,) and ours[7] == 0.0
    assert (ours - theirs).abs().max() < 1e-6


@pytest.mark.parametrize("block", [64, 128])
def test_nf4_blockwise_equals_bitsandbytes(block):
    functional = bnb_functional()
    torch.manual_seed(1)
    weight = torch.randn(64, 256) * 0.02
    packed, state = functional.quantize_4bit(
        weight, blocksize=block, compress_statistics=False, quant_type="nf4"
    )
    codes, absmax = q.nf4_quantize(weight, block)
    assert torch.allclose(absmax, state.absmax, atol=1e-6)
    theirs = functional.dequantize_4bit(packed, state)
    assert (q.nf4_dequantize(codes, absmax, block) - theirs).abs().max() < 1e-6


def test_nf4_beats_int4_absmax_on_normal_weights():
    torch.manual_seed(2)
    weight = torch.randn(128, 128) * 0.02
    nf4 = (q.nf4_dequantize(*q.nf4_quantize(weight), 64) - weight).abs().mean()
    int4 = (q.absmax_dequantize(*q.absmax_quantize(weight, bits=4)) - weight).abs().mean()
    assert nf4 < int4


def test_bits_per_parameter():
    assert q.FORMATS["int8_absmax"].bits_per_parameter() == 8
    assert q.FORMATS["nf4"].bits_per_parameter() == 4.5
    assert q.FORMATS["nf4_double"].bits_per_parameter() == 4 + 8 / 64 + 32 / (64 * 256)
