"""One case through every method; worker processes; progress."""
