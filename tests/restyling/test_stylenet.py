"""Tests for stylize.restyling.stylenet: the U-Net, padding to any size, net.pt saving and loading."""

from __future__ import annotations

import pytest
import torch

from stylize.errors import InputError
from stylize.restyling.stylenet import NET_FORMAT, StyleNet, load_stylenet, save_stylenet, stylize_image


def test_shapes_range_and_gradients():
    torch.manual_seed(0)
    net = StyleNet(4)
    image = torch.rand(2, 3, 16, 24, requires_grad=True)
    out = net(image)
    assert out.shape == (2, 3, 16, 24) and float(out.detach().min()) > 0.0 and float(out.detach().max()) < 1.0
    out.mean().backward()
    assert image.grad is not None and float(image.grad.abs().sum()) > 0
    assert all(p.grad is not None for p in net.parameters())


def test_paper_width_has_about_0_6_million_parameters():
    assert 550_000 < sum(p.numel() for p in StyleNet(16).parameters()) < 700_000


def test_bad_input():
    net = StyleNet(4)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.rand(1, 3, 12, 16))
    with pytest.raises(ValueError, match="positive integer width"):
        StyleNet(0)


def test_stylize_image_pads_any_size_and_matches_the_net_where_no_padding_is_needed():
    torch.manual_seed(0)
    net = StyleNet(4)
    odd = stylize_image(net, torch.rand(3, 13, 21))
    assert odd.shape == (3, 13, 21) and not odd.requires_grad
    image = torch.rand(3, 16, 24)
    with torch.no_grad():
        assert torch.allclose(stylize_image(net, image), net(image[None])[0], atol=1e-6)
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        stylize_image(net, torch.rand(2, 3, 8, 8))


def test_net_file_round_trip_is_weights_only(tmp_path):
    torch.manual_seed(0)
    net = StyleNet(4)
    path = save_stylenet(tmp_path / "net.pt", net, prompt="a blue circle", size=[16, 24], config={"lr": 5e-4})
    data = torch.load(path, weights_only=True)
    assert data["format"] == NET_FORMAT and data["width"] == 4 and data["prompt"] == "a blue circle"
    loaded, metadata = load_stylenet(tmp_path)  # the run folder works as well as the file
    assert metadata == {"prompt": "a blue circle", "size": [16, 24], "config": {"lr": 5e-4}}
    image = torch.rand(3, 16, 24)
    assert torch.equal(stylize_image(loaded, image), stylize_image(net, image))


def test_bad_net_files_are_one_line_input_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    state = StyleNet(4).state_dict()
    state.pop("to_rgb.bias")
    torch.save({"format": NET_FORMAT, "width": 4, "state_dict": state}, tmp_path / "damaged.pt")
    cases = [("missing.pt", "does not exist"), ("junk.pt", "cannot read StyleNet file"), ("other.pt", "not a StyleNet file"),
             ("damaged.pt", "damaged")]  # fmt: skip
    for name, words in cases:
        with pytest.raises(InputError, match=words) as info:
            load_stylenet(tmp_path / name)
        assert "\n" not in str(info.value)


def test_a_tampered_width_is_refused_before_the_net_is_built(tmp_path, monkeypatch):
    import stylize.restyling.stylenet as stylenet

    save_stylenet(tmp_path / "net.pt", StyleNet(4))
    data = torch.load(tmp_path / "net.pt", weights_only=True)
    torch.save({**data, "width": 1000}, tmp_path / "wide.pt")  # StyleNet(1000): about 4 GB of weights
    torch.save({**data, "width": True}, tmp_path / "bool.pt")
    built = []
    real = stylenet.StyleNet

    class Counting(real):
        def __init__(self, width: int = 16) -> None:
            if not torch.empty(0).is_meta:  # only real weights count
                built.append(width)
            super().__init__(width)

    monkeypatch.setattr(stylenet, "StyleNet", Counting)
    for name in ("wide.pt", "bool.pt"):
        with pytest.raises(InputError, match="damaged.*width") as info:
            load_stylenet(tmp_path / name)
        assert "\n" not in str(info.value)
    assert built == []
    assert load_stylenet(tmp_path / "net.pt")[0].width == 4 and built == [4]


def test_a_full_disk_while_saving_keeps_the_earlier_net_whole(tmp_path, monkeypatch):
    import errno

    path = save_stylenet(tmp_path / "net.pt", StyleNet(4))
    before = path.read_bytes()
    import os

    def disk_full(fd):
        os.ftruncate(fd, 100)  # half written ...
        raise OSError(errno.ENOSPC, "No space left on device")  # ... when the disk filled up

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        save_stylenet(path, StyleNet(4))
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["net.pt"]


def test_the_same_net_gives_the_same_bytes_wherever_it_is_written(tmp_path):
    """torch names a saved archive's inner folder after the file it writes; the atomic write's
    temporary has a random name, so net.pt is serialised in memory (batch executors write it
    from different folders and must give the same bytes)."""
    torch.manual_seed(0)
    net = StyleNet(4)
    first = save_stylenet(tmp_path / "a" / "net.pt", net, prompt="a blue circle")
    second = save_stylenet(tmp_path / "b" / "other-name.pt", net, prompt="a blue circle")
    assert first.read_bytes() == second.read_bytes()
