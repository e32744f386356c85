"""Share the app as a Hugging Face Space: `python -m deploy OWNER/NAME` (see docs/space.md)."""
