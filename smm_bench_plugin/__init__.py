"""SMM-Bench runtime."""
