"""The FAQ: admin-edited YAML files, their validation, and the Russian-aware fuzzy matching engine."""
