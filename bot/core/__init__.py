"""The platform-free core: neutral message types, routing and per-resident dialog state."""
