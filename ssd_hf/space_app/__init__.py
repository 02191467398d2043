"""The base-vs-SSD comparison Space, shipped inside the package so that a wheel install can stage it.

`ssd-hf space push` copies `app.py`, `README.md` and `requirements.txt` from here to the root of the Space,
beside a copy of the whole `ssd_hf` package; `spaces_demo/` in a source checkout links to these same files,
so `python spaces_demo/app.py` runs them. Importing this package imports nothing heavy (no Gradio).

Modules: `ui` (the Gradio app), `demo_config` (which models, decoding and problems), `compare_models` (one
pane's model), `results_charts` (the Results tab), `sandbox_bridge` (how an answer is judged).
"""

from __future__ import annotations

import os

APP_DIR = os.path.dirname(os.path.abspath(__file__))
# Copied to the root of a staged Space as they are; config.yaml there is written from the resolved config.
ROOT_FILES = ("app.py", "README.md", "requirements.txt")
BUNDLED_CONFIG = os.path.join(APP_DIR, "config.yaml")
