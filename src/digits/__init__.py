"""Handwritten digit recognition on MNIST: data, model, training, evaluation and tracking."""
