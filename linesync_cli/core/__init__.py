"""The core: sources, linkage, batching, ledger and checks. No terminal, no Typer."""
