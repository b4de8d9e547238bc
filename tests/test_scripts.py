"""scripts/sft.py, scripts/dpo.py and scripts/grpo.py: bad arguments stop at once, ``--help``
lists every argument, and the pieces grpo.py takes from ``course_utils.grpo`` (fast); under
``accelerate launch`` on a CPU two processes train as one with the same global batch, and a run
killed after a checkpoint resumes to the adapter an uninterrupted run ends with (``scripts``:
slow, each launch starts fresh Python processes)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
#: Steps and rows kept small: a launch costs seconds of start-up before its first step.
SHORT = ["--max_steps", "4", "--logging_steps", "1", "--max_rows", "64", "--save_steps", "100"]


def _module(script: str):
    """scripts/<script>.py, imported as a module (once)."""
    import importlib.util

    name = f"course_script_{script}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{script}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def _main(script: str):
    """The ``main`` of scripts/<script>.py."""
    return _module(script).main


@pytest.fixture(scope="module")
def tiny_model_folder(tiny_decoder, tmp_path_factory) -> Path:
    model, tokenizer = tiny_decoder
    folder = tmp_path_factory.mktemp("tiny-decoder")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    ("script", "arguments", "message"),
    [
        ("sft", ["--learning_rate", "0"], "--learning_rate = 0.0 is not allowed"),
        ("sft", ["--learning_rate=-1e-4"], "--learning_rate = -0.0001 is not allowed"),
        ("dpo", ["--max_steps", "0"], "--max_steps = 0 is not allowed"),
        ("dpo", ["--beta", "0"], "--beta = 0.0 is not allowed"),
        ("dpo", ["--loss_type", "kto"], "--loss_type = 'kto' is not allowed"),
        ("sft", ["--model", "no/such/folder"], "--model = 'no/such/folder' is not a model folder"),
        ("sft", ["--model", "someone/some-model"], "not allowed in the mini profile"),
        ("sft", ["--profile", "cpu"], "--profile = 'cpu' is not allowed"),
        ("dpo", ["--sft_adapter", "nowhere"], "--sft_adapter = 'nowhere' is not a LoRA adapter"),
        ("grpo", ["--sft_adapter", "nowhere"], "--sft_adapter = 'nowhere' is not a LoRA adapter"),
        ("grpo", ["--num_generations", "1"], "--num_generations = 1 is not allowed: expected"),
        (
            "grpo",
            ["--per_device_batch_size", "6", "--num_generations", "4"],
            "--per_device_batch_size = 6 x 1 process(es) x --accumulation = 1 makes 6 replies a "
            "step, not whole groups of --num_generations = 4: expected a --per_device_batch_size "
            "that is a multiple of 4",
        ),
        ("grpo", ["--reward", "fuzzy"], "--reward = 'fuzzy' is not allowed: expected one of exact"),
        (
            "grpo",
            ["--reward", "exact", "--reward_model", "judge"],
            "--reward = 'exact' and --reward_model = 'judge' are not allowed together",
        ),
        ("grpo", ["--reward_model", "nowhere"], "--reward_model = 'nowhere' is not a model folder"),
        ("grpo", ["--reward_model", "someone/judge"], "not allowed in the mini profile"),
        ("grpo", ["--beta=-0.1"], "--beta = -0.1 is not allowed: expected >= 0"),
        ("grpo", ["--epsilon", "1"], "--epsilon = 1.0 is not allowed: expected a number > 0 and"),
        ("grpo", ["--temperature", "0"], "--temperature = 0.0 is not allowed"),
        ("grpo", ["--max_completion_length", "0"], "--max_completion_length = 0 is not allowed"),
    ],
)
def test_bad_arguments_stop_at_once_naming_the_argument(script, arguments, message, tmp_path):
    with pytest.raises(SystemExit) as stop:
        _main(script)(["--output_dir", str(tmp_path), *arguments])
    assert message in str(stop.value)
    assert not any(tmp_path.iterdir())  # nothing written


def test_the_groups_must_be_whole_across_the_processes(monkeypatch, tmp_path):
    """Under ``accelerate launch`` the process count is in the step's replies: 4 per process
    make whole groups of 8 with two processes, 3 do not."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    base = ["--output_dir", str(tmp_path), "--num_generations", "8", "--accumulation", "2"]
    with pytest.raises(SystemExit, match="makes 12 replies a step.* multiple of 2"):
        _main("grpo")([*base, "--per_device_batch_size", "3"])
    args = _module("grpo").launch.parse(_module("grpo").GRPOArguments, base)
    _module("grpo").check(args)  # 8 per process (the default is 32): whole groups


def test_a_reward_model_must_score_sequences(tiny_model_folder, tmp_path):
    with pytest.raises(SystemExit, match="is not a sequence-classification model .*ForCausalLM"):
        _main("grpo")(["--output_dir", str(tmp_path), "--reward_model", str(tiny_model_folder)])


def test_prompts_longer_than_max_length_are_left_out(tiny_model_folder, tmp_path):
    arguments = ["--output_dir", str(tmp_path), "--model", str(tiny_model_folder)]
    with pytest.raises(SystemExit, match="--max_length = 2: every one of the 8 prompts is longer"):
        _main("grpo")([*arguments, "--max_length", "2", "--max_rows", "8"])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("script", ["sft", "dpo", "grpo"])
def test_help_lists_every_argument(script, capsys):
    import dataclasses

    with pytest.raises(SystemExit) as stop:
        _main(script)(["--help"])
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    module = sys.modules[f"course_script_{script}"]
    arguments = next(c for n, c in vars(module).items() if n.endswith("Arguments"))
    for field in dataclasses.fields(arguments):
        assert f"--{field.name} " in shown, field.name
        assert field.metadata["help"].split()[0] in shown, field.name


def test_the_readmes_commands_use_arguments_the_scripts_have():
    """Every ``--name`` after ``scripts/<script>.py`` in the README's commands (continuation
    lines included) is one of that script's arguments."""
    import dataclasses
    import re

    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    commands = re.findall(r"scripts/(sft|dpo|grpo)\.py([^\n]*)", text)
    assert {script for script, _ in commands} == {"sft", "dpo", "grpo"}
    for script, rest in commands:
        module = _module(script)
        arguments = next(c for n, c in vars(module).items() if n.endswith("Arguments"))
        known = {f.name for f in dataclasses.fields(arguments)}
        for name in re.findall(r"--(\w+)", rest):
            assert name in known, (script, name)


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(SystemExit, match="--resume: there is no checkpoint"):
        _main("sft")(["--output_dir", str(tmp_path), "--resume"])


@pytest.mark.parametrize(
    ("script", "columns"),
    [
        ("sft", {"instruction": "Add.", "input": "2 and 3"}),
        ("dpo", {"prompt": "p", "chosen": "c"}),
        ("grpo", {"question": "What kind of thing is a pear?"}),
    ],
)
def test_a_dataset_without_the_recipes_columns_is_refused(
    script, columns, tiny_model_folder, tmp_path
):
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps(columns) + "\n")
    out = tmp_path / "out"
    missing = r"--dataset = .* lacks the column\(s\) (output|rejected|answer)"
    with pytest.raises(SystemExit, match=missing):
        _main(script)(
            ["--output_dir", str(out), "--model", str(tiny_model_folder), "--dataset", str(data)]
        )
    assert not out.exists()


# ------------------------------------------------ what scripts/grpo.py takes from course_utils.grpo


def test_the_verifiable_rewards():
    from course_utils import grpo

    assert grpo.exact_answer(["vegetable", " Vegetable ", "fruit"], ["vegetable"] * 3) == [1, 1, 0]
    assert grpo.numeric_answer(
        ["... so 12 + 30 = 42.", "#### 1,250 (apples)", "18.00", "no idea", "#### 5"],
        ["#### 42", "#### 1250", "#### 18", "7", "#### 6"],
    ) == [1, 1, 1, 0, 0]
    chat = [[{"role": "assistant", "content": "fruit"}]]  # TRL's conversational completions
    assert grpo.exact_answer(chat, ["Fruit"]) == [1.0]
    assert set(grpo.REWARDS) == {"exact", "numeric"}


def test_the_mini_prompts_are_the_kind_task():
    from course_utils import grpo
    from course_utils.mini import tasks

    rows = grpo.task_rows("mini", seed=3, n=20)
    assert rows == [
        {"question": e.prompt, "answer": e.target} for e in tasks.examples("kind", "train", 20, 3)
    ]


def test_the_t4_prompts_are_gsm8ks_with_where_the_answer_goes(monkeypatch, tmp_path):
    """On GSM8K's layout (the t4 stand-in's local copy): each question asks for '#### n', and
    the numeric reward pays each reference answer."""
    from course_utils import grpo
    from course_utils.tooling import standins

    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(standins.ENV, "1")
    standins.write_dataset("openai/gsm8k")
    rows = grpo.task_rows("t4", seed=0)
    assert rows and all(r["question"].endswith(grpo.GSM8K_INSTRUCTION) for r in rows)
    answers = [r["answer"] for r in rows]
    assert grpo.numeric_answer(answers, answers) == [1.0] * len(rows)


def test_seeded_sampling_draws_a_reply_whatever_shares_its_batch():
    """Rows 2 and 3 of a batch of four get the tokens they get in a batch of their own (as on a
    second process), and the draws follow the softmax of the logits / temperature."""
    import torch

    from course_utils import grpo

    torch.manual_seed(0)
    scores = torch.randn(4, 50)
    whole = grpo.SeededSampling(seed=7, round=3, first_row=0, temperature=0.7)
    shard = grpo.SeededSampling(seed=7, round=3, first_row=2, temperature=0.7)
    for _ in range(5):  # five positions of the replies
        ours, theirs = whole(None, scores), shard(None, scores[2:])
        assert torch.equal(ours[2:], theirs)
        assert torch.equal(torch.isfinite(ours).sum(dim=1), torch.ones(4, dtype=torch.long))
    other = grpo.SeededSampling(seed=7, round=4, first_row=0, temperature=0.7)  # the next step
    assert not torch.equal(other(None, scores), grpo.SeededSampling(7, 3, 0, 0.7)(None, scores))

    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).repeat(4000, 1)
    drawn = grpo.SeededSampling(seed=0, round=0, first_row=0, temperature=2.0)(None, logits)
    shares = torch.isfinite(drawn).float().mean(dim=0)
    expected = torch.softmax(logits[0] / 2.0, dim=0)
    assert (shares - expected).abs().max().item() < 0.025, (shares, expected)


# ------------------------------------------------------------------ launched with accelerate


#: Short two-process launches in the clean-exit test.
REPEATS = 4


def _launch(script: str, out: Path, processes: int, *arguments: str, wait: bool = True):
    # On a CPU, accelerate's --cpu starts one process (several need mpirun); --multi_gpu starts
    # them with torchrun, and a script that trains on the CPU joins them over gloo.
    spread = ["--multi_gpu"] if processes > 1 else []
    command = [
        sys.executable, "-m", "accelerate.commands.launch", *spread,
        "--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", str(SCRIPTS / f"{script}.py"), "--output_dir", str(out),
        *arguments,
    ]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "COURSE_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    if not wait:
        return subprocess.Popen(command, env=env, start_new_session=True, cwd=ROOT)
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.scripts
@pytest.mark.parametrize("script", ["sft", "dpo"])
def test_two_processes_train_as_one_with_the_same_global_batch(script, mini_report, tmp_path):
    # DPO without its NLL term: TRL averages that term over each process's tokens, so with it
    # two processes differ from one by about 0.1 % (the DPO term itself is a mean over pairs)
    extra = ["--nll_weight", "0"] if script == "dpo" else []
    one = _launch(script, tmp_path / "one", 1, *SHORT, "--per_device_batch_size", "8", *extra)
    two = _launch(script, tmp_path / "two", 2, *SHORT, "--per_device_batch_size", "4", *extra)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["global_batch"] == two["global_batch"] == 8
    assert [s for s, _ in one["losses"]] == [s for s, _ in two["losses"]] == [1, 2, 3, 4]
    for (step, a), (_, b) in zip(one["losses"], two["losses"], strict=True):
        assert b == pytest.approx(a, rel=1e-5, abs=1e-5), (step, a, b)
    ours, theirs = _adapter(tmp_path / "two"), _adapter(tmp_path / "one")
    assert ours.keys() == theirs.keys() and ours
    for name, tensor in theirs.items():  # float sums in another order: not bit-identical
        assert (ours[name] - tensor).abs().max().item() < 1e-4, name


@pytest.mark.scripts
def test_grpo_two_processes_sample_and_train_as_one_and_resume(mini_report, tmp_path):
    """GRPO samples: each reply is drawn from noise seeded by its place in the global batch and
    the step (course_utils.grpo.SeededSampling), so two processes with 8 replies each sample
    the replies one process with 16 samples, score them alike (the same mean rewards, to the
    bit) and log the same losses. Resumed from the one-process run's step-2 checkpoint, a run
    samples what it sampled and ends with its adapter."""
    settings = [*SHORT[:-2], "--save_steps", "2", "--num_generations", "4"]
    one = _launch("grpo", tmp_path / "one", 1, *settings, "--per_device_batch_size", "16")
    two = _launch("grpo", tmp_path / "two", 2, *settings, "--per_device_batch_size", "8")
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["global_batch"] == two["global_batch"] == 16
    for key in ("reward", "reward_std", "frac_reward_zero_std", "completions/mean_length"):
        assert one["series"][key] == two["series"][key], key
    assert [s for s, _ in one["series"]["reward"]] == [1, 2, 3, 4]
    for (step, a), (_, b) in zip(
        one["losses"] + one["series"]["kl"], two["losses"] + two["series"]["kl"], strict=True
    ):
        assert b == pytest.approx(a, rel=1e-5, abs=1e-5), (step, a, b)
    ours, theirs = _adapter(tmp_path / "two"), _adapter(tmp_path / "one")
    assert ours.keys() == theirs.keys() and ours
    for name, tensor in theirs.items():  # float sums in another order: not bit-identical
        assert (ours[name] - tensor).abs().max().item() < 1e-4, name

    out = tmp_path / "resumed"
    shutil.copytree(tmp_path / "one" / "checkpoint-2", out / "checkpoint-2")
    resumed = _launch("grpo", out, 1, *settings, "--per_device_batch_size", "16", "--resume")
    assert resumed["resumed_from"].endswith("checkpoint-2") and resumed["steps"] == 4
    # the log of steps 1 and 2 comes back with the checkpoint; 3 and 4 are sampled anew
    assert resumed["series"]["reward"] == one["series"]["reward"]
    ours = _adapter(out)
    for name, tensor in theirs.items():
        assert (ours[name] - tensor).abs().max().item() < 1e-5, name


@pytest.mark.scripts
def test_grpo_against_a_reward_model(mini_report, tmp_path):
    """--reward_model: a sequence-classification model (here the mini decoder's body under a
    fresh one-label head) scores each reply; one step in this process."""
    import torch
    from transformers import AutoTokenizer, MistralForSequenceClassification

    from course_utils.tooling import standins

    body = standins.mini_model_path("mini:mini-decoder")
    torch.manual_seed(0)
    judge = MistralForSequenceClassification.from_pretrained(body, num_labels=1)
    judge.save_pretrained(tmp_path / "judge")
    AutoTokenizer.from_pretrained(body).save_pretrained(tmp_path / "judge")
    metrics = _main("grpo")(
        ["--output_dir", str(tmp_path / "out"), "--reward_model", str(tmp_path / "judge"),
         "--max_steps", "1", "--max_rows", "8", "--per_device_batch_size", "8",
         "--num_generations", "4", "--logging_steps", "1"]
    )  # fmt: skip
    ((step, reward),) = metrics["series"]["reward"]
    assert step == 1 and reward not in (0.0, 1.0)  # a score, not a right-or-wrong
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.scripts
def test_finished_two_process_runs_exit_cleanly(mini_report, tmp_path):
    """A run that trained and saved must not end as a failure: before the process group was torn
    down, 1 launch in 7 ended with rank 1 aborting at exit. Several short launches (each asserts
    exit status 0) catch that regression more often than not, the two tests above included."""
    for attempt in range(REPEATS):
        _launch("sft", tmp_path / str(attempt), 2, "--max_steps", "1", "--max_rows", "8",
                "--per_device_batch_size", "2")  # fmt: skip


def _adapter(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "adapter" / "adapter_model.safetensors")


@pytest.mark.scripts
def test_a_killed_run_resumes_to_the_uninterrupted_adapter(mini_report, tmp_path):
    """One process: resuming a multi-process CPU run fails in this stack (its checkpoint's
    tensors are tagged cpu:0, which torch.load cannot place); see the README."""
    settings = ["--max_steps", "40", "--save_steps", "4", "--max_rows", "64",
                "--per_device_batch_size", "4"]  # fmt: skip
    whole = _launch("sft", tmp_path / "whole", 1, *settings)
    out = tmp_path / "killed"
    run = _launch("sft", out, 1, *settings, wait=False)
    deadline = time.monotonic() + 300
    while not (out / "checkpoint-4" / "trainer_state.json").exists():
        assert run.poll() is None and time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not (out / "metrics.json").exists(), "the run finished before it could be killed"
    resumed = _launch("sft", out, 1, *settings, "--resume")
    assert resumed["resumed_from"] and resumed["steps"] == whole["steps"] == 40
    ours, theirs = _adapter(out), _adapter(tmp_path / "whole")
    assert ours.keys() == theirs.keys() and ours
    for name, tensor in theirs.items():
        assert (ours[name] - tensor).abs().max().item() < 1e-5, name
    shutil.rmtree(out)


@pytest.mark.scripts
def test_dpo_starts_from_the_sft_adapter_at_ln2(mini_report, tmp_path):
    """scripts/dpo.py --sft_adapter merges the SFT adapter first; its new adapter starts at zero,
    so the policy equals the reference and the first DPO loss is ln 2."""
    import math

    steps = ["--max_steps", "2", "--logging_steps", "1", "--max_rows", "32", "--save_steps", "100"]
    _launch("sft", tmp_path / "sft", 1, *steps)
    dpo = _launch(
        "dpo", tmp_path / "dpo", 1, *steps, "--nll_weight", "0",
        "--sft_adapter", str(tmp_path / "sft" / "adapter"),
    )  # fmt: skip
    assert dpo["losses"][0][1] == pytest.approx(math.log(2), abs=1e-4)
