"""⑥ One training job, on one machine or K replicas: preparation, the loop, checkpoints, events."""
