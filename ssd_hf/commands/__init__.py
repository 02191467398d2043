"""The `ssd-hf` sub-commands, each a thin layer over a stage of the library (see `ssd_hf/cli.py`)."""
