"""diffexp's SLURM launcher: the official submitit one, with job states read from squeue and
scontrol where sacct cannot tell (`hydra/launcher=submitit_slurm`, conf/hydra/launcher)."""
