"""The ten keywords and the twelve labels of the bundled models, in their output order: the one
list the training, synthesis, export and evaluation scripts import."""

WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
LABELS = WORDS + ["_unknown_", "_silence_"]
