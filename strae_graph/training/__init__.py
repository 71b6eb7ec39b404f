"""Training a run: TrainConfig and the presets, the training data and batches,
the run's state, loop and step, the run directory, its files and what --resume
compares, checkpoints, the learning-rate schedule, time budgets, torchrun,
Ctrl-C, prefetching and torch threads.  Imports model, graph, data, trees and
util."""
