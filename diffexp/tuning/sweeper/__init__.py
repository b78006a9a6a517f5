"""The sweeper side: what runs in the `python -m diffexp.train -m` process (search space,
asynchronous slots, resources, the sweep summary); Hydra's plugin is
`hydra_plugins.diffexp_sweeper`."""
