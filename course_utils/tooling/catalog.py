"""What each notebook takes and needs: the rule of every parameter, the value each profile uses
for None, what the ``t4`` profile downloads (and the local stand-in the t4 stand-in test uses for
it), and the cut-down settings of that test.

A notebook's parameters cell writes each name once with its default; everything else about a
parameter is here. ``python -m course_utils params`` rewrites the cells' comments from this
file (``params --check`` only says which cells are out of date), and
``tests/test_parameters_cells.py`` checks that cells and catalogue agree.

A parameter or download that several notebooks share is declared once, as a module constant
above the first notebook that uses it; the rest stays in its notebook's entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .params import MINI_PREFIX, Param

MINI_SEQ2SEQ = MINI_PREFIX + "mini-seq2seq"
MINI_DECODER = MINI_PREFIX + "mini-decoder"


@dataclass(frozen=True)
class Download:
    """Something the t4 profile fetches from the Hugging Face Hub.

    stand_in: what replaces it in the t4 stand-in test: a mini model ("mini:<name>") of the same
    architecture for a model; for a dataset, the name of a local copy with the Hub dataset's
    exact schema (``standins.DATASETS``).
    """

    repo_id: str
    kind: str  # "model" or "dataset"
    approx_gb: float  # download size, roughly
    stand_in: str


@dataclass(frozen=True)
class NotebookSpec:
    """One notebook's entry in the catalogue."""

    stem: str
    title: str
    params: dict[str, Param] = field(default_factory=dict)
    downloads: tuple[Download, ...] = ()
    t4_gpu_gb: float = 0.0  # estimated peak GPU memory in the t4 profile
    t4_minutes: float = 0.0  # estimated minutes on a Colab T4
    uses_mini_models: bool = False
    # Parameter values for the t4 stand-in test: step and example counts cut to a few.
    stand_in: dict[str, Any] = field(default_factory=dict)
    # Two or three recorded results that say what the notebook found, for the website's landing
    # page: (key of the results, a reader's name for it).
    headline: tuple[tuple[str, str], ...] = ()
    # What the notebook teaches, in one sentence: its card on the website's landing page.
    summary: str = ""


NOTEBOOKS: dict[str, NotebookSpec] = {}


def register(spec: NotebookSpec) -> NotebookSpec:
    """Add (or replace) a notebook's entry."""
    NOTEBOOKS[spec.stem] = spec
    return spec


# Shared by several of notebooks 01 to 05.
FLAN_T5_BASE = Param("model", mini=MINI_SEQ2SEQ, t4="google/flan-t5-base")
FLAN_T5_BASE_DOWNLOAD = Download("google/flan-t5-base", "model", 1.0, MINI_SEQ2SEQ)
DIALOGSUM = Download("knkarthick/dialogsum", "dataset", 0.01, "dialogsum")
EXAMPLES_PER_STEP = Param("int", 1, 256, help="examples per step", mini=32, t4=16)
LORA_RANK = Param("int", 1, 256, help="r of the LoRA update B·A")
LORA_ALPHA = Param("float", 0.1, 1024, help="LoRA scales B·A by alpha / r")


register(
    NotebookSpec(
        stem="00_setup_check",
        summary=(
            "Check your environment: the library versions, the GPU and bf16, which profile you "
            "get, and that the mini models load."
        ),
        headline=(
            ("checks_failed", "set-up checks failed"),
            ("mini_models_ok", "mini models load"),
        ),
        title="Set-up check",
        params={
            "CHECK_MINI_MODELS": Param("bool", help="load the mini models, ask each a question")
        },
        t4_minutes=1,
    )
)


register(
    NotebookSpec(
        stem="01_catastrophic_forgetting",
        summary=(
            "Fine-tune on a new task, measure how much of the old ones the model forgets, then "
            "what the learning rate, replay, L2-SP and LoRA do about it."
        ),
        headline=(
            ("old_acc_full_ft", "accuracy on the old tasks after full fine-tuning"),
            ("old_acc_l2sp", "on the old tasks with L2-SP"),
            ("new_acc_full_ft", "on the new task after full fine-tuning"),
        ),
        title="Catastrophic forgetting, measured, and what mitigates it",
        params={
            "MODEL": Param("model", mini=MINI_SEQ2SEQ, t4="google/flan-t5-small"),
            "NEW_TASK": Param(
                "choice", choices=("sentiment_binary", "topic"), help="the task to learn"
            ),
            "TRAIN_STEPS": Param("int", 10, 5000, help="optimizer steps per run", mini=60, t4=300),
            "BATCH_SIZE": EXAMPLES_PER_STEP,
            "SEEDS": Param("int", 1, 10, help="seeds per headline method", mini=3, t4=1),
            "LEARNING_RATE": Param("float", 1e-6, 1e-1, help="lr of full fine-tuning"),
            "LOW_LEARNING_RATE": Param("float", 1e-6, 1e-1, help="lower lr of full fine-tuning"),
            "LORA_RANK": LORA_RANK,
            "LORA_ALPHA": LORA_ALPHA,
            "LORA_TARGETS": Param(
                "choice", choices=("q,v", "q,k,v,o", "all-linear"), help="layers LoRA adapts"
            ),
            "LORA_LEARNING_RATE": Param("float", 1e-6, 1e-1, help="lr of LoRA"),
            "REPLAY_SHARE": Param("float", 0.0, 0.9, help="share of each batch from old tasks"),
            "L2SP_STRENGTH": Param("float", 0.0, 10.0, help="lambda of the L2-SP penalty"),
            "LR_SWEEP": Param("float_list", 1e-6, 1e-1, help="full fine-tuning lrs swept"),
            "LORA_LR_SWEEP": Param("float_list", 1e-6, 1e-1, help="LoRA lrs swept"),
            "EVAL_EVERY": Param("int", 1, 5000, help="steps between evaluations", mini=10, t4=50),
            "EVAL_EXAMPLES": Param("int", 5, 1000, help="test examples per task", mini=50, t4=50),
        },
        downloads=(Download("google/flan-t5-small", "model", 0.3, MINI_SEQ2SEQ),),
        t4_gpu_gb=4.0,
        t4_minutes=30,
        uses_mini_models=True,
        stand_in={
            "TRAIN_STEPS": 10,
            "EVAL_EVERY": 5,
            "EVAL_EXAMPLES": 5,
            "SEEDS": 2,
            "LR_SWEEP": [1e-4, 1e-3],
            "LORA_LR_SWEEP": [1e-3],
        },
    )
)


register(
    NotebookSpec(
        stem="02_flan_t5_instruction_tuning",
        summary=(
            "Instruction-tune FLAN-T5 to summarise dialogues: prompting against fine-tuning, "
            "scored with a ROUGE written from first principles, and what ROUGE misses."
        ),
        headline=(
            ("rouge1_zero_shot", "ROUGE-1 of the base model, zero-shot"),
            ("rouge1_finetuned", "after fine-tuning"),
            ("fact_error_share", "share of fine-tuned summaries with a wrong fact"),
        ),
        title="Instruction tuning FLAN-T5: prompting vs fine-tuning, measured with ROUGE",
        params={
            "MODEL": FLAN_T5_BASE,
            "TRAIN_STEPS": Param("int", 1, 20000, help="optimizer steps per run", mini=240, t4=300),
            "BATCH_SIZE": Param("int", 1, 256, help="training examples per step", mini=16, t4=8),
            "LEARNING_RATE": Param("float", 1e-6, 1e-1, help="peak AdamW lr", mini=1e-3, t4=3e-4),
            "MAX_SOURCE_TOKENS": Param(
                "int", 16, 4096, help="prompt tokens kept in training", mini=128, t4=512
            ),
            "MAX_TARGET_TOKENS": Param("int", 4, 1024, help="summary tokens", mini=32, t4=96),
            "MAX_PROMPT_TOKENS": Param(
                "int", 16, 8192, help="prompt tokens in generation", mini=384, t4=1024
            ),
            "NUM_SHOTS": Param("int", 2, 8, help="worked examples in the few-shot prompt"),
            "EVAL_EXAMPLES": Param("int", 5, 5000, help="test dialogues scored", mini=60, t4=100),
            "EVAL_BATCH_SIZE": Param("int", 1, 512, help="prompts per generate", mini=64, t4=16),
            "ABLATION_FRACTIONS": Param(
                "float_list",
                0.001,
                1.0,
                mini=[0.1, 0.3, 1.0],
                t4=[0.01, 0.05, 0.2],
            ),
            "SHOW_EXAMPLES": Param("int", 1, 20, help="test dialogues shown side by side"),
        },
        downloads=(
            FLAN_T5_BASE_DOWNLOAD,
            DIALOGSUM,
        ),
        t4_gpu_gb=8.0,
        t4_minutes=25,
        uses_mini_models=True,
        stand_in={"TRAIN_STEPS": 4, "EVAL_EXAMPLES": 12, "MAX_TARGET_TOKENS": 16},
    )
)


register(
    NotebookSpec(
        stem="03_prompt_and_prefix_tuning",
        summary=(
            "Train a soft prompt from scratch, then compare prompt tuning, prefix tuning, "
            "P-tuning, IA3, adapters and LoRA by accuracy per trainable parameter."
        ),
        headline=(
            ("acc_prompt_tuning_text", "accuracy with prompt tuning"),
            ("acc_prefix", "with prefix tuning"),
            ("acc_lora", "with LoRA"),
        ),
        title="Prompt tuning, prefix tuning and the PEFT family, measured side by side",
        params={
            "MODEL": FLAN_T5_BASE,
            "TRAIN_STEPS": Param(
                "int", 1, 20000, help="optimizer steps per method", mini=100, t4=600
            ),
            "BATCH_SIZE": EXAMPLES_PER_STEP,
            "TRAIN_EXAMPLES": Param(
                "int", 8, 100000, help="new-task training examples", mini=2000, t4=8000
            ),
            "EVAL_EXAMPLES": Param("int", 4, 5000, help="new-task test examples", mini=200, t4=400),
            "OLD_EVAL_EXAMPLES": Param(
                "int", 1, 1000, help="test examples per old task", mini=30, t4=30
            ),
            "NUM_VIRTUAL_TOKENS": Param("int", 1, 200, help="soft prompt length"),
            "PROMPT_LENGTHS": Param("int_list", 1, 200, help="soft prompt lengths swept"),
            "PROMPT_ENCODER_HIDDEN": Param(
                "int", 8, 4096, help="MLP width (P-tuning, prefix)", mini=128, t4=768
            ),
            "ADAPTER_BOTTLENECK": Param("int", 1, 1024, help="adapter inner width", mini=16, t4=64),
            "LORA_RANK": LORA_RANK,
            "LORA_ALPHA": LORA_ALPHA,
            "SELECTIVE": Param(
                "choice",
                choices=("layer_norms", "last_decoder_block"),
                help="what the selective method trains",
            ),
            "PROMPT_TUNING_LR": Param(
                "float", 1e-6, 10, help="lr of prompt tuning", mini=0.1, t4=0.3
            ),
            "PREFIX_LR": Param("float", 1e-6, 10, help="lr of prefix tuning", mini=0.1, t4=0.01),
            "PREFIX_PROJECTION_LR": Param(
                "float", 1e-6, 10, help="lr of prefix + projection", mini=0.01, t4=1e-3
            ),
            "P_TUNING_LR": Param("float", 1e-6, 10, help="lr of P-tuning", mini=0.03, t4=3e-3),
            "IA3_LR": Param("float", 1e-6, 10, help="lr of IA3", mini=0.03, t4=3e-3),
            "ADAPTER_LR": Param("float", 1e-6, 10, help="lr of the adapter", mini=3e-3, t4=1e-3),
            "SELECTIVE_LR": Param(
                "float", 1e-6, 10, help="lr of the selective method", mini=0.01, t4=1e-3
            ),
            "LORA_LR": Param("float", 1e-6, 10, help="lr of LoRA", mini=3e-3, t4=1e-3),
            "HEAD_LR": Param(
                "float", 1e-6, 10, help="lr of a new head (frozen body)", mini=1e-2, t4=1e-3
            ),
            "FULL_LR": Param(
                "float", 1e-6, 10, help="lr of a new head + whole model", mini=3e-4, t4=1e-4
            ),
        },
        downloads=(
            FLAN_T5_BASE_DOWNLOAD,
            Download("dair-ai/emotion", "dataset", 0.005, "emotion"),
        ),
        t4_gpu_gb=6.0,
        t4_minutes=20,
        uses_mini_models=True,
        stand_in={
            "TRAIN_STEPS": 4,
            "TRAIN_EXAMPLES": 32,
            "EVAL_EXAMPLES": 12,
            "OLD_EVAL_EXAMPLES": 3,
            "PROMPT_LENGTHS": [1, 4],
        },
    )
)


register(
    NotebookSpec(
        stem="04_lora_rank_alpha_sweeps",
        summary=(
            "Write LoRA from scratch, sweep its rank and alpha, count its parameters exactly, and"
            " merge it back into an ordinary model."
        ),
        headline=(
            ("acc_base", "accuracy of the base model"),
            ("acc_r16_a16", "with LoRA (r = 16, alpha = 16)"),
            ("acc_full_ft", "with full fine-tuning"),
        ),
        title="LoRA from first principles: rank and alpha swept, merged, counted exactly",
        params={
            "MODEL": FLAN_T5_BASE,
            "TRAIN_STEPS": Param("int", 1, 20000, help="optimizer steps per run", mini=40, t4=200),
            "BATCH_SIZE": Param("int", 1, 256, help="examples per step", mini=32, t4=8),
            "LEARNING_RATE": Param("float", 1e-6, 1.0, help="lr of the sweeps", mini=3e-3, t4=1e-3),
            "RANKS": Param(
                "int_list",
                1,
                1024,
                help="grid ranks r",
                mini=[1, 4, 16, 64],
                t4=[4, 16, 64],
            ),
            "ALPHAS": Param(
                "float_list",
                0.1,
                4096,
                help="grid alphas",
                mini=[4.0, 16.0, 64.0],
                t4=[8.0, 32.0, 128.0],
            ),
            "FIXED_ALPHA": Param("float", 0.1, 4096, help="alpha of the alpha/r vs rsLoRA runs"),
            "FEW_EXAMPLES": Param(
                "int", 2, 5000, help="training examples of the few-example sweep"
            ),
            "FEW_STEPS": Param("int", 1, 20000, help="steps of each few-example run"),
            "TARGETS_RANK": Param("int", 1, 1024, help="rank of q,v in the targets comparison"),
            "TARGETS_SEEDS": Param(
                "int", 1, 10, help="seeds of the targets comparison", mini=3, t4=1
            ),
            "LR_SWEEP": Param("float_list", 1e-6, 1.0, help="lrs of the lr x rank grid"),
            "LR_RANKS": Param("int_list", 1, 1024, help="ranks of the lr x rank grid"),
            "FULL_LR": Param("float", 1e-6, 1.0, help="lr of full fine-tuning"),
            "ADAPTER_STEPS": Param("int", 1, 20000, help="steps of each task adapter"),
            "ADAPTER_LR": Param(
                "float", 1e-6, 1.0, help="lr of each task adapter", mini=3e-3, t4=1e-3
            ),
            "ADAPTER_RANK": Param("int", 1, 1024, help="rank of each task adapter"),
            "EVAL_EXAMPLES": Param("int", 4, 5000, help="new-task test examples"),
            "OLD_EVAL_EXAMPLES": Param("int", 1, 1000, help="test examples per old task"),
            "MAX_SOURCE_TOKENS": Param(
                "int", 16, 4096, help="prompt tokens kept", mini=128, t4=512
            ),
            "MAX_NEW_TOKENS": Param("int", 1, 1024, help="answer tokens generated", mini=12, t4=96),
            "LATENCY_REPEATS": Param("int", 1, 1000, help="forward passes timed per model"),
        },
        downloads=(
            FLAN_T5_BASE_DOWNLOAD,
            DIALOGSUM,
        ),
        t4_gpu_gb=8.0,
        t4_minutes=25,
        uses_mini_models=True,
        stand_in={
            "TRAIN_STEPS": 2,
            "RANKS": [1, 4],
            "ALPHAS": [2.0, 8.0],
            "FEW_EXAMPLES": 4,
            "FEW_STEPS": 2,
            "LR_SWEEP": [1e-3],
            "LR_RANKS": [1, 4],
            "TARGETS_RANK": 4,
            "ADAPTER_STEPS": 2,
            "EVAL_EXAMPLES": 6,
            "OLD_EVAL_EXAMPLES": 2,
            "MAX_NEW_TOKENS": 16,
            "LATENCY_REPEATS": 2,
        },
    )
)


register(
    NotebookSpec(
        stem="05_qlora_mistral_7b_unsloth",
        summary=(
            "Quantize by hand (absmax, zero-point, NF4), estimate the memory of full fine-tuning,"
            " LoRA and QLoRA, and run QLoRA on Mistral-7B with Unsloth."
        ),
        headline=(
            ("acc_base", "exact match of the 4-bit base"),
            ("acc_qlora", "after QLoRA"),
            ("acc_lora_fp32", "after LoRA on a 32-bit base"),
        ),
        title="Quantization by hand, and QLoRA on Mistral-7B with Unsloth on a T4",
        params={
            "MODEL": Param("model", mini=MINI_DECODER, t4="unsloth/mistral-7b-v0.3-bnb-4bit"),
            "USE_UNSLOTH": Param("bool", help="Unsloth's recipe when a GPU has it installed"),
            "TRAIN_STEPS": Param("int", 1, 20000, help="optimizer steps", mini=300, t4=60),
            "BATCH_SIZE": Param("int", 1, 256, help="examples per device step", mini=16, t4=2),
            "GRAD_ACCUM": Param("int", 1, 64, help="steps accumulated per update", mini=1, t4=4),
            "LEARNING_RATE": Param("float", 1e-6, 1.0, help="peak lr", mini=5e-3, t4=2e-4),
            "WARMUP_STEPS": Param("int", 0, 1000, help="warm-up steps", mini=10, t4=5),
            "LORA_RANK": Param("int", 1, 256, help="r of every adapted projection"),
            "LORA_ALPHA": LORA_ALPHA,
            "MAX_SEQ_LENGTH": Param("int", 32, 8192, help="tokens per example", mini=256, t4=2048),
            "EVAL_EXAMPLES": Param("int", 4, 5000, help="held-out instructions", mini=100, t4=50),
            "SEEDS": Param(
                "int", 1, 10, help="seeds of the QLoRA vs float32 comparison", mini=3, t4=1
            ),
            "MAX_NEW_TOKENS": Param("int", 1, 1024, help="response tokens", mini=24, t4=128),
        },
        downloads=(
            Download("unsloth/mistral-7b-v0.3-bnb-4bit", "model", 4.1, MINI_DECODER),
            Download("yahma/alpaca-cleaned", "dataset", 0.04, "alpaca-cleaned"),
        ),
        t4_gpu_gb=7.0,
        t4_minutes=25,
        uses_mini_models=True,
        stand_in={"TRAIN_STEPS": 3, "BATCH_SIZE": 2, "EVAL_EXAMPLES": 4, "MAX_NEW_TOKENS": 8},
    )
)

# The preference pipeline's stages, shared by notebooks 06 (DPO) and 07 (GRPO against a reward
# model): the same data, SFT stage, reward model and DPO recipe in both.
ULTRAFEEDBACK = Download(
    "trl-lib/ultrafeedback_binarized", "dataset", 0.13, "ultrafeedback_binarized"
)
PAIR_SIDE_TOKENS = Param("int", 16, 8192, help="tokens per pair side", mini=128, t4=512)
RM_LEARNING_RATE = Param("float", 1e-7, 1.0, help="reward lr", mini=1e-3, t4=1e-5)
SFT_STEPS = Param("int", 1, 20000, help="SFT steps", mini=300, t4=100)
SFT_CHOSEN_SHARE = Param(
    "float", 0.0, 1.0, help="share of SFT answers that are the chosen ones (the rest rejected)"
)
SFT_LEARNING_RATE = Param("float", 1e-7, 1.0, help="SFT lr", mini=5e-3, t4=2e-4)
NLL_WEIGHT = Param("float", 0.0, 10.0, help="weight of the NLL term on chosen")
DPO_LEARNING_RATE = Param("float", 1e-7, 1.0, help="DPO lr", mini=3e-3, t4=5e-5)
SWEEP_SEEDS = Param("int", 1, 10, help="seeds of each swept beta", mini=2, t4=1)
# Shared by notebooks 06 (DPO) and 08 (RLHF): the model, the pairs' batches and the adapters.
SMOLLM2 = Param("model", mini=MINI_DECODER, t4="HuggingFaceTB/SmolLM2-360M-Instruct")
SMOLLM2_DOWNLOAD = Download("HuggingFaceTB/SmolLM2-360M-Instruct", "model", 0.72, MINI_DECODER)
TRAIN_PAIRS = Param("int", 8, 100000, help="training pairs", mini=1200, t4=2000)
PAIRS_PER_DEVICE_STEP = Param("int", 1, 256, help="pairs per device step", mini=16, t4=4)
GRAD_ACCUM = Param("int", 1, 64, help="steps accumulated per update", mini=1, t4=2)
ADAPTER_RANK = Param("int", 1, 256, help="r of the adapters (alpha 2r)")
REPLY_TOKENS = Param("int", 1, 1024, help="reply tokens", mini=16, t4=128)


register(
    NotebookSpec(
        stem="06_dpo",
        summary=(
            "From a reward model to DPO: the loss written out and checked against TRL's, trained "
            "on preference pairs, and its beta measured against drift."
        ),
        headline=(
            ("pref_form_rate_sft", "share of replies in the preferred form after SFT"),
            ("pref_form_rate_dpo", "after DPO alone"),
            ("pref_form_rate_dpo_nll", "after DPO + NLL"),
        ),
        title="From RLHF to DPO: the loss written out, trained, and its beta measured",
        params={
            "MODEL": SMOLLM2,
            "USE_UNSLOTH": Param("bool", help="also a DPO step on 4-bit Mistral-7B (Unsloth)"),
            "TRAIN_PAIRS": TRAIN_PAIRS,
            "EVAL_PAIRS": Param("int", 4, 5000, help="held-out pairs", mini=100, t4=100),
            "RM_STEPS": Param("int", 1, 20000, help="reward model steps", mini=250, t4=100),
            "RM_LEARNING_RATE": RM_LEARNING_RATE,
            "SFT_STEPS": SFT_STEPS,
            "SFT_CHOSEN_SHARE": SFT_CHOSEN_SHARE,
            "SFT_LEARNING_RATE": SFT_LEARNING_RATE,
            "DPO_STEPS": Param("int", 1, 20000, help="steps of each DPO run", mini=100, t4=50),
            "LEARNING_RATE": DPO_LEARNING_RATE,
            "BETA": Param("float", 1e-3, 10.0, help="DPO's beta (the KL leash)"),
            "BETA_SWEEP": Param("float_list", 1e-3, 10.0, help="betas swept"),
            "SWEEP_SEEDS": Param(
                "int", 1, 10, help="seeds of the DPO stage per swept beta", mini=1, t4=1
            ),
            "NLL_WEIGHT": NLL_WEIGHT,
            "BATCH_SIZE": PAIRS_PER_DEVICE_STEP,
            "GRAD_ACCUM": GRAD_ACCUM,
            "LORA_RANK": ADAPTER_RANK,
            "MAX_LENGTH": PAIR_SIDE_TOKENS,
            "MAX_NEW_TOKENS": REPLY_TOKENS,
        },
        downloads=(
            SMOLLM2_DOWNLOAD,
            ULTRAFEEDBACK,
        ),
        t4_gpu_gb=8.0,
        t4_minutes=25,
        uses_mini_models=True,
        stand_in={
            "TRAIN_PAIRS": 16,
            "EVAL_PAIRS": 4,
            "RM_STEPS": 2,
            "SFT_STEPS": 2,
            "DPO_STEPS": 2,
            "BATCH_SIZE": 2,
            "GRAD_ACCUM": 1,
            "BETA_SWEEP": [0.1, 1.0],
            "SWEEP_SEEDS": 1,
            "MAX_NEW_TOKENS": 8,
        },
    )
)


# Shared by notebooks 07 (GRPO) and 09 (evaluation): the kind task split by word.
HELD_OUT_WORDS = Param("int", 1, 7, help="words of each category never trained on (mini's task)")

register(
    NotebookSpec(
        stem="07_grpo",
        summary=(
            "Reinforcement learning with rewards you can verify: GRPO from scratch, checked "
            "against TRL's trainer, trained over seeds, and reward hacking caught."
        ),
        headline=(
            ("acc_before", "accuracy on held-out words before GRPO"),
            ("acc_after_seed0", "after GRPO"),
            (
                "hack_loophole_reward_loophole_used",
                "share of replies using a loophole the reward pays",
            ),
        ),
        title="Reinforcement learning with verifiable rewards: GRPO from scratch, against TRL",
        params={
            "MODEL": Param("model", mini=MINI_DECODER, t4="Qwen/Qwen2.5-0.5B-Instruct"),
            "USE_UNSLOTH": Param("bool", help="also section 3's run with Unsloth, in 4 bits"),
            "TRAIN_STEPS": Param("int", 1, 20000, help="GRPO steps per run", mini=40, t4=100),
            "PROMPTS_PER_STEP": Param("int", 1, 256, help="prompts per step", mini=4, t4=2),
            "NUM_GENERATIONS": Param("int", 2, 64, help="completions per prompt (the group)"),
            "LEARNING_RATE": Param("float", 1e-7, 1.0, help="lr", mini=1e-3, t4=1e-5),
            "BETA": Param(
                "float", 0.0, 10.0, help="weight of the KL penalty towards the reference"
            ),
            "EPSILON": Param("float", 0.01, 1.0, help="PPO's clip range"),
            "LORA_RANK": Param("int", 1, 256, help="r of the adapter (alpha 2r)"),
            "SEEDS": Param("int", 1, 10, help="seeds of the main run", mini=3, t4=1),
            "GROUP_SIZES": Param(
                "int_list", 2, 64, help="group sizes compared", mini=[2, 16], t4=[4]
            ),
            "BETA_SWEEP": Param(
                "float_list", 0.0, 10.0, help="betas compared with BETA", mini=[1.0], t4=[0.0]
            ),
            "SWEEP_SEEDS": SWEEP_SEEDS,
            "BREVITY_PENALTY": Param(
                "float",
                0.0,
                1.0,
                help="per-word reward penalty, section 6",
                mini=0.3,
                t4=0.002,
            ),
            "HACKING_STEPS": Param(
                "int", 1, 20000, help="GRPO steps of section 6's runs", mini=100, t4=100
            ),
            "HACKING_TEMPERATURE": Param(
                "float", 0.1, 3.0, help="sampling temperature, section 6", mini=1.5, t4=1.0
            ),
            "PASS_K": Param("int", 2, 64, help="samples per prompt for pass@k"),
            "HELD_OUT_WORDS": HELD_OUT_WORDS,
            "EVAL_EXAMPLES": Param("int", 4, 5000, help="held-out prompts", mini=100, t4=100),
            "MAX_COMPLETION_TOKENS": Param("int", 1, 4096, help="reply tokens", mini=8, t4=200),
        },
        downloads=(
            Download("Qwen/Qwen2.5-0.5B-Instruct", "model", 1.0, MINI_DECODER),
            Download("openai/gsm8k", "dataset", 0.005, "gsm8k"),
        ),
        t4_gpu_gb=8.0,
        t4_minutes=60,
        uses_mini_models=True,
        stand_in={
            "TRAIN_STEPS": 2,
            "HACKING_STEPS": 2,
            "PROMPTS_PER_STEP": 2,
            "NUM_GENERATIONS": 2,
            "GROUP_SIZES": [2],
            "BETA_SWEEP": [0.0],
            "EVAL_EXAMPLES": 4,
            "PASS_K": 2,
            "MAX_COMPLETION_TOKENS": 8,
        },
    )
)

register(
    NotebookSpec(
        stem="08_rlhf",
        summary=(
            "RLHF against a learned reward: best-of-n as the baseline, GRPO and DPO compared at "
            "matched KL, and a reward model over-optimised."
        ),
        headline=(
            ("reward_model_acc", "reward model's accuracy on preference pairs"),
            ("grpo_last_reward_model_score", "reward-model score after GRPO"),
            ("grpo_last_preferred_form", "share of its replies in the truly preferred form"),
        ),
        title="RLHF: a reward model, best-of-n, GRPO against it, DPO, and over-optimisation",
        params={
            "MODEL": SMOLLM2,
            "TRAIN_PAIRS": TRAIN_PAIRS,
            "EVAL_PAIRS": Param("int", 4, 5000, help="held-out pairs", mini=64, t4=64),
            "BATCH_SIZE": PAIRS_PER_DEVICE_STEP,
            "GRAD_ACCUM": GRAD_ACCUM,
            "MAX_LENGTH": PAIR_SIDE_TOKENS,
            "RM_STEPS": Param("int", 1, 20000, help="steps of the reward model", mini=250, t4=100),
            "RM_LEARNING_RATE": RM_LEARNING_RATE,
            "SFT_STEPS": SFT_STEPS,
            "SFT_CHOSEN_SHARE": SFT_CHOSEN_SHARE,
            "SFT_LEARNING_RATE": SFT_LEARNING_RATE,
            "LORA_RANK": ADAPTER_RANK,
            "MAX_NEW_TOKENS": REPLY_TOKENS,
            "BEST_OF": Param(
                "int_list", 1, 256, help="n of best-of-n", mini=[1, 2, 4, 8, 16], t4=[1, 4, 16]
            ),
            "GRPO_STEPS": Param("int", 1, 20000, help="GRPO steps", mini=30, t4=30),
            "PROMPTS_PER_STEP": Param("int", 1, 256, help="GRPO prompts per step", mini=4, t4=2),
            "NUM_GENERATIONS": Param("int", 2, 64, help="GRPO's replies per prompt (its group)"),
            "GRPO_LEARNING_RATE": Param("float", 1e-7, 1.0, help="GRPO lr", mini=1e-3, t4=1e-5),
            "GRPO_BETA": Param("float", 0.0, 10.0, help="GRPO's KL weight"),
            "DPO_STEPS": Param("int", 1, 20000, help="DPO + NLL steps", mini=100, t4=50),
            "DPO_LEARNING_RATE": DPO_LEARNING_RATE,
            "DPO_BETA": Param("float", 1e-3, 10.0, help="DPO's beta (its KL leash)"),
            "NLL_WEIGHT": NLL_WEIGHT,
            "KEEP_EVERY": Param("int", 1, 1000, help="steps between kept adapters", mini=2, t4=2),
        },
        downloads=(
            SMOLLM2_DOWNLOAD,
            ULTRAFEEDBACK,
        ),
        t4_gpu_gb=6.0,
        t4_minutes=40,
        uses_mini_models=True,
        stand_in={
            "TRAIN_PAIRS": 16,
            "EVAL_PAIRS": 4,
            "BATCH_SIZE": 2,
            "GRAD_ACCUM": 1,
            "RM_STEPS": 2,
            "SFT_STEPS": 2,
            "BEST_OF": [1, 2],
            "GRPO_STEPS": 2,
            "PROMPTS_PER_STEP": 2,
            "NUM_GENERATIONS": 2,
            "DPO_STEPS": 2,
            "KEEP_EVERY": 1,
            "MAX_NEW_TOKENS": 8,
        },
    )
)


register(
    NotebookSpec(
        stem="09_evaluation",
        summary=(
            "Did fine-tuning work? Score models with EleutherAI's harness, put error bars on the "
            "scores, and look for contamination and a judge's position bias."
        ),
        headline=(
            ("log_likelihood_chat_0_shots_dpo", "DPO's accuracy by log-likelihood"),
            ("generation_chat_0_shots_dpo", "by generation"),
            ("detectable_difference", "smallest difference 60 items can detect"),
        ),
        title="Did fine-tuning work? Evaluating fine-tuned models with a harness, with error bars",
        params={
            "MODEL": Param("model", mini=MINI_DECODER, t4="HuggingFaceTB/SmolLM2-360M"),
            "TUNED": SMOLLM2,
            "TRAINING_SEEDS": Param(
                "int", 1, 10, help="training seeds of each recipe (mini)", mini=3, t4=1
            ),
            "SFT_STEPS": Param("int", 1, 20000, help="SFT steps (mini)", mini=30, t4=30),
            "DPO_STEPS": Param("int", 1, 20000, help="DPO steps (mini)", mini=60, t4=60),
            "GRPO_STEPS": Param("int", 1, 20000, help="GRPO steps (mini)", mini=30, t4=30),
            "HELD_OUT_WORDS": HELD_OUT_WORDS,
            "SHOTS": Param("int", 1, 10, help="worked examples in the few-shot prompt"),
            "EVAL_EXAMPLES": Param(
                "int", 4, 5000, help="items of each real task (t4)", mini=100, t4=200
            ),
            "BOOTSTRAP_ITERATIONS": Param("int", 100, 100000, help="bootstrap resamples"),
            "MAX_NEW_TOKENS": Param("int", 1, 1024, help="reply tokens", mini=8, t4=256),
        },
        downloads=(
            Download("HuggingFaceTB/SmolLM2-360M", "model", 0.72, MINI_DECODER),
            SMOLLM2_DOWNLOAD,
            Download("allenai/ai2_arc", "dataset", 0.003, "ai2_arc"),
            Download("openai/gsm8k", "dataset", 0.005, "gsm8k"),
        ),
        t4_gpu_gb=3.0,
        t4_minutes=15,
        uses_mini_models=True,
        stand_in={"EVAL_EXAMPLES": 8, "MAX_NEW_TOKENS": 8, "BOOTSTRAP_ITERATIONS": 200},
    )
)


def spec_for(notebook: str) -> NotebookSpec:
    """The spec of a notebook, by stem ("01_catastrophic_forgetting") or number ("01")."""
    if notebook in NOTEBOOKS:
        return NOTEBOOKS[notebook]
    matches = [s for stem, s in NOTEBOOKS.items() if stem.split("_", 1)[0] == notebook]
    if len(matches) == 1:
        return matches[0]
    raise KeyError(
        f"notebook {notebook!r} is not in the course catalogue; known: {', '.join(NOTEBOOKS)}"
    )


def spec_or_none(stem: str) -> NotebookSpec | None:
    """The catalogue entry of a notebook, or None for a notebook the course does not know."""
    try:
        return spec_for(stem)
    except KeyError:
        return None


def stand_in_for(repo_id: str) -> Download | None:
    """The catalogue's download entry for a Hub id (which names its stand-in), or None."""
    for spec in NOTEBOOKS.values():
        for item in spec.downloads:
            if item.repo_id == repo_id:
                return item
    return None
