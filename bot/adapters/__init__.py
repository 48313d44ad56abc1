"""Thin translators between each platform and the neutral core types; one module per platform."""
