"""Member accounts: the administrator's invite workflow and per-region relationship status."""
