"""advtrojan: combined Trojan + adversarial threats to image classifiers (AdvTrojan, ICLR 2021 sub.).

    from advtrojan import scan, evaluate
    report = scan(model, "fmnist", defenses=["neural_cleanse", "strip"])
"""

__version__ = "0.1.0"

_API = {"scan": "advtrojan.defenses.api", "evaluate": "advtrojan.evaluation", "load_plugin": "advtrojan.plugins",
        "train": "advtrojan.training"}


def __getattr__(name):  # the API is imported on first use, so `import advtrojan` stays light
    if name in _API:
        import importlib
        module = importlib.import_module(_API[name])
        return getattr(module, "fit" if name == "train" else name)
    raise AttributeError(f"module 'advtrojan' has no attribute {name!r}")


__all__ = ["scan", "evaluate", "load_plugin", "train", "__version__"]
