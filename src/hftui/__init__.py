"""hftui: a keyboard-driven terminal UI for the Hugging Face Hub cache.

Kept import-light on purpose: `import hftui` must not pull in Textual or huggingface_hub.
"""

__version__ = "0.1.0"
