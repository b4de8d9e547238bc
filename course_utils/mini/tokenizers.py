"""The mini models' tokenizers, trained with the `tokenizers` library and saved as ordinary
Hugging Face tokenizers.

Both are byte-pair encodings over a Metaspace pre-tokenizer (as in SentencePiece: a space
becomes "▁"), with every printable ASCII character in the alphabet, so any ASCII text encodes
without <unk>.

- seq2seq (T5 conventions): <pad> = 0, </s> = 1, <unk> = 2, and </s> appended to every input.
- decoder: appends nothing by itself (TRL adds EOS; an automatic one would be silently doubled),
  and carries a chat template whose assistant turn is wrapped in generation markers, so TRL's
  assistant-only loss can find the answer tokens.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SEQ2SEQ_SPECIALS = ("<pad>", "</s>", "<unk>")
DECODER_SPECIALS = ("<pad>", "</s>", "<unk>", "<s>", "<|user|>", "<|assistant|>")
ALPHABET = sorted(set(string.printable) - set("\t\r\x0b\x0c"))

# One user turn, one assistant turn; the assistant's words and its EOS are what is learned.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|user|>{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}<|assistant|>"
    "{% generation %}{{ message['content'] }}{{ eos_token }}{% endgeneration %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _train_bpe(texts: Iterable[str], specials: tuple[str, ...], vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    # "always": every piece of text between special tokens starts a new word with "▁",
    # so "<|assistant|>Paris" trains and generates the same "▁Paris" token.
    # A line break is a piece of its own, so a name at the start of a line is the same "▁Anna"
    # as anywhere else; punctuation is split off, so "France?" and "France." share "▁France".
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split("\n", behavior="isolated"),
            pre_tokenizers.Metaspace(prepend_scheme="always"),
            pre_tokenizers.Punctuation(),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(prepend_scheme="always")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(specials),
        initial_alphabet=ALPHABET,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def train_seq2seq_tokenizer(
    texts: Iterable[str], vocab_size: int = 2000
) -> PreTrainedTokenizerFast:
    tokenizer = _train_bpe(texts, SEQ2SEQ_SPECIALS, vocab_size)
    eos = tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=256,
    )


def train_decoder_tokenizer(
    texts: Iterable[str], vocab_size: int = 2000
) -> PreTrainedTokenizerFast:
    tokenizer = _train_bpe(texts, DECODER_SPECIALS, vocab_size)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        bos_token="<s>",
        additional_special_tokens=["<|user|>", "<|assistant|>"],
        model_max_length=256,
        padding_side="left",
    )
    hf.chat_template = CHAT_TEMPLATE
    return hf
