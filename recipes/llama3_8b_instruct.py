"""SSD recipe for meta-llama/Llama-3.1-8B-Instruct: `accelerate launch recipes/llama3_8b_instruct.py` (values in llama3_8b_instruct.yaml; see README.md)."""
from ssd_hf.commands.stages import recipe_main

if __name__ == "__main__":  # vLLM's workers may re-import this file
    recipe_main(__file__)
