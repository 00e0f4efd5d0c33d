"""lowbit's training stage: GPT-2 with Hugging Face weight names, the quantizers of QuantGPT (Tao et al.,
ACL 2022) and its baselines, config loading and checkpoint files (docs/FORMAT.md). Runs on CPU with
torch 1.13 (tests, CI) and on the GPU machine with torch 2.x.

    config.py          load_config: dataclass defaults < JSON file < --key=value overrides
    quant.py           the quantizer (bit-exact with src/export/quantize.ts) and the QAT quantizers
    model.py           GPT2, quantize_model, load_hf / save_hf / save_quantized / load_quantized
    safetensors_io.py  safetensors read/write without the safetensors package
"""
