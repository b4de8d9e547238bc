"""A mini FLAN: small instruction tasks, each asked in several phrasings, with disjoint splits.

Every example is a prompt-completion pair. The six CORE_TASKS are what the mini models are
instruction-tuned on (the seq2seq model also on SEQ2SEQ_EXTRA_TASKS); NEW_TASKS are held out for
the notebooks to fine-tune on as "new tasks".
Splits are decided by a hash of the prompt, so a prompt is in exactly one split whatever the
seed, and sampling is seeded, so the same seed always gives the same examples.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from ..core.examples import Example
from . import vocabulary

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Task:
    """An instruction task: phrasings with {slots}, and a function drawing slots and answer."""

    name: str
    description: str
    phrasings: tuple[str, ...]
    draw: Callable[[random.Random], tuple[dict[str, str], str]]
    #: The slot that holds the text to work on (the review, the sentence): a task's input
    #: without any instruction, for methods that learn the instruction instead (notebook 03).
    input_slot: str | None = None

    def sample(self, rng: random.Random) -> Example:
        slots, answer = self.draw(rng)
        phrasing = rng.choice(self.phrasings)
        return Example(self.name, phrasing.format(**slots), answer)


def split_of(prompt: str) -> str:
    """The split a prompt belongs to: 80 % train, 10 % validation, 10 % test, by hash."""
    bucket = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


# ----- slot drawers -------------------------------------------------------------------------


def _review(rng: random.Random) -> tuple[str, bool]:
    positive = rng.random() < 0.5
    words = vocabulary.POSITIVE_WORDS if positive else vocabulary.NEGATIVE_WORDS
    adj, adj2 = rng.sample(words, 2)
    thing = rng.choice(vocabulary.REVIEWED_THINGS)
    shape = rng.choice(
        (
            "The {t} was {a}.",
            "I found the {t} {a}.",
            "What a {a} {t}!",
            "Our {t} was {a} and {b}.",
            "Honestly, the {t} felt {a}.",
        )
    )
    return shape.format(t=thing, a=adj, b=adj2), positive


def _draw_sentiment(rng: random.Random) -> tuple[dict[str, str], str]:
    review, positive = _review(rng)
    return {"review": review}, "positive" if positive else "negative"


def _draw_sentiment_binary(rng: random.Random) -> tuple[dict[str, str], str]:
    review, positive = _review(rng)
    return {"review": review}, "1" if positive else "0"


def _draw_name(rng: random.Random) -> tuple[dict[str, str], str]:
    name = rng.choice(vocabulary.NAMES)
    shape = rng.choice(
        (
            "{n} bought a {i} at {p}.",
            "Yesterday {n} walked to {p}.",
            "On {d} {n} fixed the {i}.",
            "The {i} belongs to {n}.",
            "{n} was late for the meeting at {p}.",
            "We met {n} near {p} on {d}.",
        )
    )
    sentence = shape.format(
        n=name,
        i=rng.choice(vocabulary.ITEMS),
        p=rng.choice(vocabulary.PLACES),
        d=rng.choice(vocabulary.DAYS),
    )
    return {"sentence": sentence}, name


def _draw_add(rng: random.Random) -> tuple[dict[str, str], str]:
    a, b = rng.randrange(10), rng.randrange(10)
    return {"a": str(a), "b": str(b)}, str(a + b)


def _draw_category(rng: random.Random) -> tuple[dict[str, str], str]:
    category, *others = rng.sample(sorted(vocabulary.CATEGORIES), 3)
    word = rng.choice(vocabulary.CATEGORIES[category])
    options = [category, *others]
    rng.shuffle(options)
    return {"word": word, "options": ", ".join(options[:-1]) + " or " + options[-1]}, category


def _draw_capital(rng: random.Random) -> tuple[dict[str, str], str]:
    country = rng.choice(sorted(vocabulary.CAPITALS))
    return {"country": country}, vocabulary.CAPITALS[country]


_ANTONYM_PAIRS = sorted(vocabulary.ANTONYMS.items()) + sorted(
    (b, a) for a, b in vocabulary.ANTONYMS.items()
)


def _draw_antonym(rng: random.Random) -> tuple[dict[str, str], str]:
    word, opposite = rng.choice(_ANTONYM_PAIRS)
    return {"word": word}, opposite


def _draw_copy(rng: random.Random) -> tuple[dict[str, str], str]:
    """One or two chat lines, "Name: sentence", to be repeated exactly."""
    lines = []
    for _ in range(rng.choice((1, 2))):
        slots, _ = _draw_name(rng)
        lines.append(f"{rng.choice(vocabulary.NAMES)}: {slots['sentence']}")
    text = "\n".join(lines)
    return {"text": text}, text


def _draw_kind(rng: random.Random) -> tuple[dict[str, str], str]:
    category = rng.choice(sorted(vocabulary.CATEGORIES))
    return {"word": rng.choice(vocabulary.CATEGORIES[category])}, category


def _draw_topic(rng: random.Random) -> tuple[dict[str, str], str]:
    topic = rng.choice(sorted(vocabulary.TOPICS))
    thing = rng.choice(vocabulary.TOPICS[topic])
    shape = rng.choice(
        (
            "{n} talked about {w} all evening.",
            "We spent {d} thinking about {w}.",
            "Everyone at {p} loved {w}.",
            "{n} wrote a long note about {w}.",
        )
    )
    sentence = shape.format(
        n=rng.choice(vocabulary.NAMES),
        w=thing,
        d=rng.choice(vocabulary.DAYS),
        p=rng.choice(vocabulary.PLACES),
    )
    return {"sentence": sentence[0].upper() + sentence[1:]}, topic


# ----- the tasks ---------------------------------------------------------------------------

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            "sentiment",
            "sentiment of a short review: positive or negative",
            (
                "Is this review positive or negative? {review}",
                "Review: {review} Is the review positive or negative?",
                "Classify the sentiment of this review: {review}",
                "How does the writer feel? {review} Answer positive or negative.",
            ),
            _draw_sentiment,
        ),
        Task(
            "name",
            "the name of the person in a sentence",
            (
                "What is the name of the person in this sentence? {sentence}",
                "Who is mentioned here? {sentence}",
                "Extract the person's name: {sentence}",
                "{sentence} Which person is this about?",
            ),
            _draw_name,
        ),
        Task(
            "add",
            "the sum of two numbers from 0 to 9",
            (
                "What is {a} plus {b}?",
                "Add {a} and {b}.",
                "Compute {a} + {b}.",
                "What do you get when you add {a} to {b}?",
            ),
            _draw_add,
        ),
        Task(
            "category",
            "which of three listed categories a word belongs to",
            (
                "Which category does {word} belong to: {options}?",
                "Is {word} a {options}?",
                "Put {word} in one of these groups: {options}.",
                "For the word {word}, choose its category from {options}.",
            ),
            _draw_category,
        ),
        Task(
            "capital",
            "the capital city of a country",
            (
                "What is the capital of {country}?",
                "Name the capital city of {country}.",
                "{country} has which city as its capital?",
                "Which city is the capital of {country}?",
                "Tell me the capital of {country}.",
                "In {country}, which city is the capital?",
            ),
            _draw_capital,
        ),
        Task(
            "antonym",
            "the opposite of a word",
            (
                "What is the opposite of {word}?",
                "Give an antonym of {word}.",
                "Which word means the opposite of {word}?",
                "The opposite of {word} is what?",
                "Tell me the opposite of {word}.",
                "What word is the reverse of {word}?",
            ),
            _draw_antonym,
        ),
        Task(
            "copy",
            "repeat one or two chat lines exactly",
            (
                "Repeat this:\n{text}",
                "Copy the text exactly.\n{text}",
                "{text}\nSay that again.",
            ),
            _draw_copy,
        ),
        Task(
            "sentiment_binary",
            "sentiment of a review as a digit: 1 positive, 0 negative (held out)",
            (
                "Score this review 1 if positive and 0 if negative: {review}",
                "Review: {review} Give 1 for positive, 0 for negative.",
                "Label the review with 1 (good) or 0 (bad): {review}",
            ),
            _draw_sentiment_binary,
            input_slot="review",
        ),
        Task(
            "topic",
            "the topic of a sentence: sport, food or music (held out)",
            (
                "Is this sentence about sport, food or music? {sentence}",
                "Topic of the sentence (sport, food or music): {sentence}",
                "{sentence} Which topic is this: sport, food or music?",
            ),
            _draw_topic,
            input_slot="sentence",
        ),
        Task(
            "kind",
            "the category of a word, asked without listing the categories (held out)",
            (
                "What kind of thing is {word}?",
                "The {word} is a kind of what?",
                "Name the group that {word} belongs to.",
                "Tell me what sort of thing {word} is.",
                "Which group is the {word} an example of?",
            ),
            _draw_kind,
        ),
    )
}

CORE_TASKS = ("sentiment", "name", "add", "category", "capital", "antonym")
#: Taught to the mini seq2seq model besides the core tasks: copying names, days and places out
#: of its input, the skill a faithful summary needs (notebook 02). Not an "old task" anywhere.
SEQ2SEQ_EXTRA_TASKS = ("copy",)
NEW_TASKS = ("sentiment_binary", "topic", "kind")


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"task {name!r} does not exist; known tasks: {', '.join(TASKS)}")
    return TASKS[name]


def examples(task: str, split: str, n: int, seed: int = 0) -> list[Example]:
    """``n`` examples of ``task`` from ``split`` (drawn with replacement), the same for a seed."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {SPLITS}")
    spec = get_task(task)
    rng = random.Random(f"{task}/{split}/{seed}")
    found: list[Example] = []
    tries = 0
    while len(found) < n:
        tries += 1
        if tries > 1000 * (n + 10):
            raise RuntimeError(f"could not draw {n} {split} examples of {task}")
        example = spec.sample(rng)
        if split_of(example.prompt) == split:
            found.append(example)
    return found


def bare_examples(task: str, split: str, n: int, seed: int = 0) -> list[Example]:
    """``n`` examples of ``task`` whose prompt is the input text alone, with no instruction
    (the review, the sentence). Split by a hash of that text, so a text seen in training never
    comes back in another split under another phrasing."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {SPLITS}")
    spec = get_task(task)
    if spec.input_slot is None:
        known = ", ".join(name for name, t in TASKS.items() if t.input_slot)
        raise ValueError(f"task {task!r} has no bare input; tasks with one: {known}")
    rng = random.Random(f"{task}/bare/{split}/{seed}")
    found: list[Example] = []
    for _ in range(1000 * (n + 10)):
        slots, answer = spec.draw(rng)
        text = slots[spec.input_slot]
        if split_of(text) == split:
            found.append(Example(task, text, answer))
            if len(found) == n:
                return found
    raise RuntimeError(f"could not draw {n} bare {split} examples of {task}")


def mixture(
    split: str, n_per_task: int, seed: int = 0, tasks: tuple[str, ...] = CORE_TASKS
) -> list[Example]:
    """A shuffled mixture of ``n_per_task`` examples from each task."""
    mixed = [ex for task in tasks for ex in examples(task, split, n_per_task, seed)]
    random.Random(f"mix/{split}/{seed}").shuffle(mixed)
    return mixed
