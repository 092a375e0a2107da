"""One module per DVC stage; each exposes ``main(cfg)``."""
