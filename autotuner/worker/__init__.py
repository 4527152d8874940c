"""Task execution: the runner shared by both modes, and the queues that feed it."""
