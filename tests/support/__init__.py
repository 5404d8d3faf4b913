"""Test support: contract checks against the official specs (`spec`) and stand-in servers (`standin`)."""
