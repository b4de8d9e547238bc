"""The offline mini world: a mini FLAN task mixture, tokenizers, and two mini models.

tasks       the instruction tasks, their phrasings and disjoint splits
vocabulary  the word lists the tasks and bundled datasets draw from
corpora     the bundled datasets written into data/ (instructions, dialogues, preferences)
tokenizers  the seq2seq (T5 conventions) and decoder (chat template) tokenizers
build       training the mini seq2seq and decoder models; the build-mini command
"""
