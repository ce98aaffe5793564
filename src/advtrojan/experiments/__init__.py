"""Experiments: the Appendix G sweeps, the Appendix D feature analysis, and `reproduce`."""
