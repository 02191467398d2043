"""SSD recipe for Qwen/Qwen3-30B-A3B-Instruct-2507: `accelerate launch --config_file recipes/accelerate_configs/zero3.yaml recipes/qwen3_30b.py`.

Values live in qwen3_30b.yaml (each commented with its source); any of them can be overridden on the
command line (`--max_steps 10`), or the whole file replaced with `--config other.yaml`.
"""

import os
import sys

from ssd_hf.recipe import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], default_config=os.path.join(os.path.dirname(os.path.abspath(__file__)), "qwen3_30b.yaml")))
