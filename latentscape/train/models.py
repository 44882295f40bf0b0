"""Networks: any torchvision classification model by name (random init by default), or the small
built-in `tinycnn` (tests, CPU smoke runs). The model's final linear classifier is replaced by
one linear layer whose output columns are the targets' heads (heads.output_layout), so the
state dict keeps torchvision's names.

ImageNet weights are never downloaded: `pretrained` is a local file holding the state dict of
the same architecture (for example torchvision's `resnet18-f37072fd.pth`, fetched by the user
from the URL in `weights_url(arch)`); its classifier is dropped.
"""
from __future__ import annotations

import difflib
from pathlib import Path

import torch
from torch import nn

from latentscape.errors import TrainError

BUILTIN = ("tinycnn",)
EXAMPLES = ("resnet18", "resnet50", "efficientnet_b0", "convnext_tiny", "mobilenet_v3_large", "vit_b_16", "tinycnn")


class TinyCNN(nn.Module):
    """Three 3x3 conv-BN-ReLU blocks (16, 32, 64 channels; the last two stride 2), average pooled
    to 4x4 (keeping where things are in the image), then one linear layer `fc`. For tests and
    CPU smoke runs (about 10 ms per step of 32 images of 16x16 px on one CPU thread)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()

        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(*block(3, 16, 1), *block(16, 32, 2), *block(32, 64, 2), nn.AdaptiveAvgPool2d(4))
        self.fc = nn.Linear(64 * 16, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


def architectures() -> list[str]:
    """Names accepted by `build_model`: torchvision's classification models and the built-ins."""
    import torchvision
    return sorted(torchvision.models.list_models(module=torchvision.models)) + list(BUILTIN)


def check_arch(arch: str) -> None:
    if arch in BUILTIN:
        return
    names = architectures()
    if arch not in names:
        close = difflib.get_close_matches(arch, names, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise TrainError(f"unknown architecture {arch!r}; {hint}e.g. {', '.join(EXAMPLES)} "
                         f"({len(names)} in all: torchvision.models.list_models() and tinycnn)")


def weights_url(arch: str) -> str | None:
    """Where torchvision publishes `arch`'s default ImageNet weights (a string; nothing is fetched)."""
    try:
        import torchvision
        return torchvision.models.get_model_weights(arch).DEFAULT.url
    except (ValueError, KeyError, AttributeError):
        return None


def build_model(arch: str, width: int, pretrained: str | None = None, input_size: int = 224) -> nn.Module:
    """`arch` with its classifier replaced by a linear layer of `width` outputs. Call
    torch.manual_seed first: the initial weights come from torch's global generator."""
    check_arch(arch)
    if arch == "tinycnn":
        if pretrained is not None:
            raise TrainError("tinycnn has no pretrained weights; drop pretrained (--pretrained)")
        model = TinyCNN(width)
    else:
        import torchvision
        kwargs = {}
        if arch in ("googlenet", "inception_v3"):
            kwargs = {"aux_logits": False, "init_weights": True}
        elif arch.startswith("vit_") and input_size != 224:
            kwargs = {"image_size": input_size}
        try:
            model = torchvision.models.get_model(arch, weights=None, **kwargs)
        except (ValueError, TypeError, AssertionError, RuntimeError) as e:
            raise TrainError(f"cannot build {arch} for {input_size}x{input_size} images: {e}") from None
        if pretrained is not None:
            load_pretrained(model, pretrained, arch)
        replace_classifier(model, width, arch)
    check_forward(model, arch, input_size, width)
    return model


def replace_classifier(model: nn.Module, width: int, arch: str) -> None:
    """Swap the model's last nn.Linear (its classifier) for a fresh Linear with `width` outputs."""
    last = None
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            last = name
    if last is None:
        raise TrainError(f"architecture {arch!r} has no final linear classifier to replace; "
                         f"e.g. {', '.join(EXAMPLES)}")
    parent = model.get_submodule(last.rpartition(".")[0]) if "." in last else model
    old = model.get_submodule(last)
    setattr(parent, last.rpartition(".")[2], nn.Linear(old.in_features, width))


def check_forward(model: nn.Module, arch: str, input_size: int, width: int) -> None:
    """One forward pass of two blank images on the CPU (eval mode: nothing changes), so that an
    input size the architecture cannot take is one clear error before training starts."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, 3, input_size, input_size))
    except (RuntimeError, ValueError, AssertionError) as e:
        raise TrainError(f"{arch} cannot take {input_size}x{input_size} images ({str(e).splitlines()[0][:160]}); "
                         f"choose another input_size (--input-size) or architecture") from None
    finally:
        model.train(was)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, width):
        raise TrainError(f"{arch}: expected outputs of shape (batch, {width}), got "
                         f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")


def load_pretrained(model: nn.Module, path, arch: str) -> None:
    """Load ImageNet weights of `arch` from a local file (the classifier's weights may be absent
    or of another shape: it is replaced afterwards)."""
    p = Path(path)
    url = weights_url(arch)
    how = (f"download {url} yourself (latentscape never downloads) and give its path" if url else
           "give a local file with a state dict of this architecture")
    if not p.is_file():
        raise TrainError(f"pretrained weights {p} not found; {how}")
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged or foreign file: any unpickling error is one line
        raise TrainError(f"pretrained weights {p} cannot be read ({type(e).__name__}); {how}") from None
    if isinstance(sd, dict) and isinstance(sd.get("model"), dict):
        sd = sd["model"]
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise TrainError(f"pretrained weights {p} do not hold a state dict; {how}")
    own = model.state_dict()
    classifier = _classifier_keys(model)
    sd = {k: v for k, v in sd.items() if k not in classifier and not k.startswith(("aux1.", "aux2.", "AuxLogits."))}
    missing = [k for k in own if k not in sd and k not in classifier]
    wrong = [k for k, v in sd.items() if k in own and own[k].shape != v.shape]
    unexpected = [k for k in sd if k not in own]
    if missing or wrong or unexpected:
        bad = (missing + wrong + unexpected)[:3]
        raise TrainError(f"pretrained weights {p} do not fit {arch} ({len(missing)} missing, {len(wrong)} of "
                         f"another shape, {len(unexpected)} unexpected, e.g. {', '.join(bad)}); {how}")
    model.load_state_dict(sd, strict=False)


def _classifier_keys(model: nn.Module) -> set[str]:
    last = None
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            last = name
    return {f"{last}.weight", f"{last}.bias"} if last else set()
