"""diffexp's Hydra launcher plugin: `hydra/launcher=pool` runs trials in warm worker processes."""
