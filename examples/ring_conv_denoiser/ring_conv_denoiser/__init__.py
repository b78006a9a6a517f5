"""An example diffexp denoiser: a 1-D convolution around the PMT rings (see model.py)."""
