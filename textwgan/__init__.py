"""textwgan: character-level text GANs with WGAN-GP — train, sample, benchmark."""

__version__ = "0.1.0"
