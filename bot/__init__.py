"""Priemnaya: a chatbot through which residents reach their local authorities."""
