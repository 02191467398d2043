"""SSD recipe for meta-llama/Llama-3.1-8B-Instruct: `accelerate launch --config_file recipes/accelerate_configs/zero3.yaml recipes/llama3_8b_instruct.py`.

Values live in llama3_8b_instruct.yaml (each commented with its source); any of them can be overridden on the
command line (`--max_steps 10`), or the whole file replaced with `--config other.yaml`.
"""

import os
import sys

from ssd_hf.recipe import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], default_config=os.path.join(os.path.dirname(os.path.abspath(__file__)), "llama3_8b_instruct.yaml")))
