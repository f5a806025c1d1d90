"""Prompt templates for the restyle texts, picked by name from :data:`TEXT_TEMPLATES` (no torch).

CLIPstyler embeds its target and source texts with prompt engineering: each text is put into
CLIP's ImageNet templates (Radford et al. 2021, the "Prompt Engineering for ImageNet" notebook;
CLIPstyler's copy leaves out ``"a photo of many {}."``, so 79 remain) and the embeddings are
averaged. ``none`` uses the text as it is, which is what the project's test CLIPs understand
(they were trained on bare captions such as "a red circle").
"""

from __future__ import annotations

from stylize.registry import Registry

__all__ = ["TEXT_TEMPLATES", "expand_templates"]

IMAGENET_TEMPLATES: tuple[str, ...] = (
    "a bad photo of a {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
    "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
    "a photo of a {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.",
    "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.", "a photo of a cool {}.",
    "a photo of a small {}.", "a tattoo of the {}.",
)  # fmt: skip

TEXT_TEMPLATES: Registry[tuple[str, ...]] = Registry("text template set", {
    "imagenet": IMAGENET_TEMPLATES,
    "none": ("{}",),
})  # fmt: skip


def expand_templates(text: str, templates: str) -> list[str]:
    """``text`` put into each template of the set named ``templates``.

    Example:
        >>> expand_templates("fire", "none")
        ['fire']
    """
    return [template.format(text) for template in TEXT_TEMPLATES.lookup(templates)]
