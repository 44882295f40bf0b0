"""The latent space: definitions, distributions, deterministic sampling, camera geometry (numpy only).

Import `latentscape.latents.sampling.LatentSampler` for drawing latents.
"""
