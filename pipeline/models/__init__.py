"""The network (a plain ``nn.Module``) and inference; training lives in ``pipeline.training``."""
