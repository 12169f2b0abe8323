"""The Textual face of distill-tui: screens over the same core functions the CLI calls."""
