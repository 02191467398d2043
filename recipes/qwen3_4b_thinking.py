"""SSD recipe for Qwen/Qwen3-4B-Thinking-2507: `accelerate launch recipes/qwen3_4b_thinking.py` (values in qwen3_4b_thinking.yaml; see README.md)."""
from ssd_hf.commands.stages import recipe_main

if __name__ == "__main__":  # vLLM's workers may re-import this file
    recipe_main(__file__)
