"""Triggers as values: a short spec for a family of triggers, drawn per model and built for an image shape.

The paper's trigger is Figure 1's white square in the bottom-right corner. A population of models for
detection research needs varied ones (or a detector learns "look at the bottom-right"), so a trigger
is a spec string, resolved once per model (:func:`resolve`: ranges and random positions drawn from a
seed) and built into a :class:`~advtrojan.attacks.trigger.Trigger` (a mask and a pattern) by
:func:`build`. The resolved spec is what a run's ``config.json`` records; the built trigger is saved
as ``trigger.safetensors``. Intensity keeps its meaning (Appendix D): ``stamp(x, i) = (1 − m)·x +
m·(i·p)``.

=================================  ==========================================================
spec                               trigger
=================================  ==========================================================
``square[:S][@P]``                 a white S×S square (S: the run's trigger size)
``rect:HxW[@P]``                   a white H×W rectangle
``noise:S[@P]``                    an S×S patch of random black and white pixels
``checker:S[@P]``                  an S×S checkerboard
``image:FILE[@P]``                 a PNG/JPEG patch at its own size (greyscale or colour)
``blend:A[:FILE]``                 Chen et al.'s blended injection: the whole image, opacity A,
                                   of random noise (or of FILE, resized)
``file:FILE.safetensors``          a mask (1, H, W) and a pattern (C, H, W) in [0, 1]
=================================  ==========================================================

Sizes may be ranges (``3-6``, drawn per model). Positions ``P``: ``br`` (the default), ``bl``,
``tr``, ``tl``, ``center``, ``X,Y`` (the patch's top-left pixel), ``corner`` (one of the four,
drawn) or ``random`` (anywhere it fits, drawn: resolved as ``rN``, the seed of the draw). Random
patterns carry their seed after ``#`` (``noise:4@br#17``) once resolved, so that the spec alone
rebuilds the same trigger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..errors import ConfigError
from .trigger import DEFAULT_MARGIN, Trigger

FAMILIES = ("square", "rect", "noise", "checker", "image", "blend", "file")
CORNERS = ("br", "bl", "tr", "tl")
PATCHES = ("square", "rect", "noise", "checker", "image")


@dataclass(frozen=True)
class TriggerSpec:
    """A parsed spec; ``resolved`` when nothing is left to draw."""

    family: str = "square"
    height: tuple[int, int] | None = None  # (low, high): a range to draw from, or (n, n)
    width: tuple[int, int] | None = None
    position: str = "br"
    opacity: float = 1.0   # blend: the whole image's mask value
    path: str | None = None
    seed: int | None = None  # of a random pattern (noise, blend without a file)

    @property
    def resolved(self) -> bool:
        sized = self.height is None or (self.height[0] == self.height[1] and self.width[0] == self.width[1])
        random_pattern = self.family == "noise" or (self.family == "blend" and self.path is None)
        return sized and self.position not in ("corner", "random") and (self.seed is not None or not random_pattern)


    def text(self) -> str:
        """The spec as a string (:func:`parse` reads it back)."""
        def n(r):
            return str(r[0]) if r[0] == r[1] else f"{r[0]}-{r[1]}"
        seed = f"#{self.seed}" if self.seed is not None else ""
        if self.family == "blend":
            return f"blend:{self.opacity:g}" + (f":{self.path}" if self.path else "") + seed
        if self.family == "file":
            return f"file:{self.path}"
        if self.family == "image":
            body = f"image:{self.path}"
        elif self.family == "rect":
            body = f"rect:{n(self.height)}x{n(self.width)}"
        else:
            body = self.family + (f":{n(self.height)}" if self.height is not None else "")
        return body + ("" if self.position == "br" else f"@{self.position}") + seed


def _range(text: str, what: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", text.strip())
    if not m:
        raise ConfigError(f"trigger {what} {text!r}: a number of pixels or a range such as 3-6")
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    if not 1 <= lo <= hi:
        raise ConfigError(f"trigger {what} {text!r}: at least 1 pixel, and the range low-high")
    return lo, hi


def parse(text) -> TriggerSpec:
    """A spec string (see the module docstring) as a :class:`TriggerSpec`; one error naming what is wrong."""
    if isinstance(text, TriggerSpec):
        return text
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"a trigger spec is a string such as square:4@br, got {text!r}")
    text = text.strip()
    if text.endswith(".safetensors") and not text.startswith("file:"):
        text = "file:" + text
    family, _, rest = text.partition(":")
    if family not in FAMILIES:
        raise ConfigError(f"unknown trigger family {family!r} in {text!r}: choose one of {', '.join(FAMILIES)}")
    seed = None
    if family != "file" and "#" in rest:
        rest, _, s = rest.rpartition("#")
        if not s.isdigit():
            raise ConfigError(f"trigger {text!r}: the seed after # must be a number")
        seed = int(s)
    if family == "file":
        return TriggerSpec("file", path=rest)
    if family == "blend":
        opacity, _, path = rest.partition(":")
        try:
            alpha = float(opacity)
        except ValueError:
            raise ConfigError(f"trigger {text!r}: blend needs an opacity, e.g. blend:0.1") from None
        if not 0 < alpha <= 1:
            raise ConfigError(f"trigger {text!r}: the blend opacity must lie in (0, 1]")
        return TriggerSpec("blend", opacity=alpha, path=path or None, seed=seed)
    body, _, position = rest.partition("@")
    position = position or "br"
    if not (position in CORNERS + ("center", "corner", "random") or re.fullmatch(r"\d+,\d+|r\d+", position)):
        raise ConfigError(f"trigger {text!r}: position {position!r}: choose br, bl, tr, tl, center, corner, random "
                          f"or X,Y")
    if family == "image":
        if not body:
            raise ConfigError(f"trigger {text!r}: image needs a file, e.g. image:logo.png@br")
        return TriggerSpec("image", position=position, path=body)
    if family == "rect":
        h, sep, w = body.partition("x")
        if not sep:
            raise ConfigError(f"trigger {text!r}: rect needs HxW, e.g. rect:3x5")
        return TriggerSpec("rect", _range(h, "height"), _range(w, "width"), position, seed=seed)
    size = _range(body, "size") if body else None
    return TriggerSpec(family, size, size, position, seed=seed)


def resolve(text, seed: int, default_size: int) -> str:
    """The spec with everything drawn (sizes in their ranges, random positions, pattern seeds),
    deterministically from ``seed``: what a run records."""
    spec = parse(text)
    gen = torch.Generator().manual_seed(seed * 1_000_003 + 17)

    def draw(r: tuple[int, int]) -> tuple[int, int]:
        v = int(torch.randint(r[0], r[1] + 1, (1,), generator=gen))
        return v, v

    if spec.family in ("square", "noise", "checker") and spec.height is None:
        spec = replace(spec, height=(default_size, default_size), width=(default_size, default_size))
    if spec.height is not None:
        h = draw(spec.height)
        spec = replace(spec, height=h, width=h if spec.family != "rect" else draw(spec.width))
    if spec.position == "corner":
        spec = replace(spec, position=CORNERS[int(torch.randint(4, (1,), generator=gen))])
    if spec.position == "random":  # drawn where it fits when built (the image size is not known here)
        spec = replace(spec, position=f"r{int(torch.randint(2 ** 31 - 1, (1,), generator=gen))}")
    if spec.family in ("noise", "blend") and spec.seed is None and spec.path is None:
        spec = replace(spec, seed=int(torch.randint(2 ** 31 - 1, (1,), generator=gen)))
    return spec.text()


def _load_image(path: str, channels: int, size: tuple[int, int] | None = None) -> torch.Tensor:
    from PIL import Image
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"trigger image {path}: no such file")
    try:
        img = Image.open(p)
        img = img.convert("L" if channels == 1 else "RGB")
        if size is not None:
            img = img.resize((size[1], size[0]))
    except OSError as exc:
        raise ConfigError(f"trigger image {path}: not a readable image ({exc})") from None
    import numpy as np
    a = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255)
    return a[None] if a.dim() == 2 else a.permute(2, 0, 1)


def build(text, image_shape: tuple[int, int, int], margin: int = DEFAULT_MARGIN) -> Trigger:
    """The trigger of a resolved spec for images of ``image_shape`` (C, H, W)."""
    spec = parse(text)
    if not spec.resolved:
        raise ConfigError(f"trigger {spec.text()!r} has something left to draw: resolve it with a seed first")
    c, h, w = image_shape
    if spec.family == "file":
        from ..models.weights import read_weights
        path = Path(spec.path).expanduser()
        if not path.is_file():
            raise ConfigError(f"trigger file {spec.path}: no such file")
        tensors, _ = read_weights(path)
        return Trigger.checked(tensors.get("mask"), tensors.get("pattern"), image_shape, str(path))
    if spec.family == "blend":
        pattern = (_load_image(spec.path, c, (h, w)) if spec.path else
                   torch.rand((c, h, w), generator=torch.Generator().manual_seed(spec.seed)))
        return Trigger(torch.full((1, h, w), spec.opacity), pattern)
    if spec.family == "image":
        patch = _load_image(spec.path, c)
        ph, pw = patch.shape[1:]
    else:
        ph, pw = spec.height[0], spec.width[0]
        if spec.family in ("square", "rect"):
            patch = torch.ones(c, ph, pw)
        elif spec.family == "checker":
            patch = ((torch.arange(ph)[:, None] + torch.arange(pw)[None]) % 2).float().expand(c, ph, pw).clone()
        else:  # noise: black and white pixels, the same in every channel
            gen = torch.Generator().manual_seed(spec.seed)
            patch = (torch.rand(1, ph, pw, generator=gen) > 0.5).float().expand(c, ph, pw).clone()
    if ph + margin > h or pw + margin > w:
        raise ConfigError(f"a {ph}x{pw} trigger with margin {margin} does not fit a {h}x{w} image")
    top, left = _place(spec.position, ph, pw, h, w, margin)
    mask, pattern = torch.zeros(1, h, w), torch.zeros(c, h, w)
    mask[:, top:top + ph, left:left + pw] = 1.0
    pattern[:, top:top + ph, left:left + pw] = patch
    return Trigger(mask, pattern)


def _place(position: str, ph: int, pw: int, h: int, w: int, margin: int) -> tuple[int, int]:
    if position == "br":
        return h - margin - ph, w - margin - pw
    if position == "bl":
        return h - margin - ph, margin
    if position == "tr":
        return margin, w - margin - pw
    if position == "tl":
        return margin, margin
    if position == "center":
        return (h - ph) // 2, (w - pw) // 2
    if position.startswith("r"):  # drawn where it fits, from the seed the spec carries
        gen = torch.Generator().manual_seed(int(position[1:]))
        return (int(torch.randint(0, h - ph + 1, (1,), generator=gen)),
                int(torch.randint(0, w - pw + 1, (1,), generator=gen)))
    x, y = (int(v) for v in position.split(","))
    if y + ph > h or x + pw > w:
        raise ConfigError(f"a {ph}x{pw} trigger at {x},{y} does not fit a {h}x{w} image")
    return y, x


def for_data(text, spec, seed: int = 0) -> Trigger:
    """The trigger of a spec for a dataset ``spec`` (a DatasetSpec): resolved from ``seed``, a size
    left out taken from the dataset's default (:func:`advtrojan.presets.trigger_size`)."""
    from .. import presets
    return build(resolve(text, seed, presets.trigger_size(spec)), spec.shape)
