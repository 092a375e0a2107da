"""Fitting the network: Trainer set-up, checkpoints, compute-cost accounting."""
