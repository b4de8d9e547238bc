"""The core every lesson builds on; it imports nothing else of the course.

examples    Example: a task's prompt and its expected answer
training    the training loop and its label-masked step
evaluation  greedy generation, exact match
counting    parameter counts; models on the meta device
profiles    the resolved profile (device, number format) that lessons read
paths       where the course keeps its files
hub         the Hub's offline switches and the t4 stand-in switch
progress    trainer progress bars that suit executed notebooks
numerics    pinned CPU kernels: the same seed gives the same bits on x86-64
experiment  the harness of notebooks 01, 03 and 04: train a fresh copy one way, measure it
"""
