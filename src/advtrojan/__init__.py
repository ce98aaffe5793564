"""advtrojan: combined Trojan + adversarial threats to image classifiers (AdvTrojan, ICLR 2021 sub.)."""

__version__ = "0.1.0"
