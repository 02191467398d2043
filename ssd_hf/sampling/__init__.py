"""SSD's sampling stage: frozen-base self-samples from any engine into the resumable store.

- `engine.py`: what an engine is (requests in, samples out) and per-sample seeds
- `runner.py`: the loop every engine shares (missing samples, sharding over processes, store, merge)
- `store.py`: the resumable on-disk store and the one record schema
- `engines/`: `transformers` (in-process, continuous batching), `vllm` (in-process, one engine per rank
  or tensor-parallel group), `endpoint` (TGI / OpenAI-protocol servers over HTTP)
"""
