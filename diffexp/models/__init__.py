"""Denoisers (found by entry point, diffexp.registry), noise schedule and samplers."""

from diffexp.models.denoiser import build_denoiser
from diffexp.models.noise_schedule import NoiseSchedule, add_noise
from diffexp.models.samplers import sample_ddim, sample_ddpm

__all__ = ["NoiseSchedule", "add_noise", "build_denoiser", "sample_ddim", "sample_ddpm"]
