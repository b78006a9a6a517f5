"""Config groups this package adds to diffexp's: hydra.searchpath=[pkg://ring_conv_denoiser.conf]."""
