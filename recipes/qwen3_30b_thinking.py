"""SSD recipe for Qwen/Qwen3-30B-A3B-Thinking-2507: `accelerate launch recipes/qwen3_30b_thinking.py` (values in qwen3_30b_thinking.yaml; see README.md)."""
from ssd_hf.commands.stages import recipe_main

if __name__ == "__main__":  # vLLM's workers may re-import this file
    recipe_main(__file__)
