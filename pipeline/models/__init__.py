"""The network (plain ``nn.Module``), its Lightning wrapper and the in-memory batch feeder."""
