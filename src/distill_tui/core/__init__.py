"""The headless core: every step of the loop as plain functions.

Nothing in this package may import Textual; the CLI and the TUI are two thin faces over it
(tests/test_import_hygiene.py proves it).
"""
