"""A short training of each shipped mini model, printed as digests of the weights it ends with.

Run as a script by tests/test_numerics.py, once per set of CPU settings:
``python tests/numerics_probe.py [--no-avx512bf16]`` prints one JSON object. The settings come
from the environment (``MKL_ENABLE_INSTRUCTIONS``, ``ONEDNN_MAX_CPU_ISA``, ``COURSE_NUMERICS``,
``ATEN_CPU_CAPABILITY``); ``--no-avx512bf16`` makes bitsandbytes believe the CPU lacks
AVX512-BF16, as most CPUs do.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time

import course_utils  # noqa: F401  first, as in every notebook: pins the kernels

STEPS = 12


def digest(model) -> str:
    """The trainable weights' bytes, hashed."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if tensor.dtype.is_floating_point:
            h.update(name.encode() + tensor.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def main() -> None:
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    from course_utils.core import numerics, paths
    from course_utils.core.training import sample_batches, train
    from course_utils.mini import tasks
    from course_utils.mini.build import DECODER_DIR, SEQ2SEQ_DIR

    if "--no-avx512bf16" in sys.argv:
        import bitsandbytes.nn.modules

        bitsandbytes.nn.modules.has_avx512bf16 = lambda: False
    from course_utils import qlora, recipes

    torch.set_num_threads(2)
    pool = tasks.mixture("train", 200, 0)
    out = {"kernels": numerics.status()}
    start = time.perf_counter()
    for key, folder, auto in (
        ("seq2seq", SEQ2SEQ_DIR, AutoModelForSeq2SeqLM),
        ("decoder", DECODER_DIR, AutoModelForCausalLM),
    ):
        path = paths.models_dir() / folder
        torch.manual_seed(0)
        model = auto.from_pretrained(path)
        train(model, AutoTokenizer.from_pretrained(path), sample_batches(pool, 16, 0), STEPS, 3e-3)
        out[key] = digest(model)
    path = str(paths.models_dir() / DECODER_DIR)
    torch.manual_seed(0)
    model = get_peft_model(qlora.load_in_4bit(path), recipes.lora_config(rank=8, alpha=16))
    train(model, AutoTokenizer.from_pretrained(path), sample_batches(pool, 16, 0), STEPS, 5e-3)
    out["qlora"] = digest(model)
    out["seconds"] = round(time.perf_counter() - start, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
