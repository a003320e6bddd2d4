"""The runtime model: the rule scorer, Call DNA (features, profile, memory), the LightGBM
model and its compiled fast path, reasons and insights. Training is in callshield.training."""
