"""Training networks that estimate latents from the images (torch; `pip install latentscape[torch]`).

    from latentscape.train import TrainConfig, train, evaluate
    cfg = TrainConfig("demo", targets=("position", "pose", "category"), arch="resnet18", steps=20000)
    result = train(cfg, "runs/x")                  # RUN: config.yaml, checkpoint.pt, metrics.csv, curves.png
    train(resume="runs/x")                         # continues the same trajectory after a kill
    evaluate("runs/x", data="demo2")               # metrics on another dataset; writes RUN/eval-demo2-all.json

Modules, one concern each: config (TrainConfig), data (parts, order, micro-batches, images on
the device), heads (output slices from the dataset schema), models (torchvision by name,
tinycnn), losses, metrics, checkpoint, records (metrics.csv, curves.png, TensorBoard), rundir,
distributed (torchrun / DDP), evaluation, loop. See docs/training.md.
"""
from latentscape.train.config import TrainConfig
from latentscape.train.evaluation import evaluate
from latentscape.train.loop import TrainResult, lr_at, train

__all__ = ["TrainConfig", "TrainResult", "evaluate", "lr_at", "train"]
