"""Benchmarks: scripts that measure the recipe (accuracy, size, speed). Their output is not committed."""
