"""The render command's executor flags (`--executor slurm|ray`, `--jobs`, ...) and `latentscape status`."""
from __future__ import annotations

import functools

import click

_SLURM = ("slurm_partition", "slurm_gpus_per_task", "slurm_cpus_per_task", "slurm_mem", "slurm_account", "time")
_RAY = ("ray_address", "ray_cpus_per_task", "ray_gpus_per_task", "ray_max_retries")
_CLUSTER = ("jobs", "detach", "no_probe", "probe_timeout")

OPTIONS = [
    click.option("--executor", type=click.Choice(["local", "slurm", "ray"]), default="local", show_default=True,
                 help="Where the shards are rendered: worker processes here, Slurm jobs (submitit), or Ray tasks."),
    click.option("--jobs", type=click.IntRange(1, 100000), help="Cluster jobs sharing the shards (default 1)."),
    click.option("--detach", is_flag=True, help="Exit once the jobs are submitted; follow with `latentscape status`."),
    click.option("--no-probe", is_flag=True, help="Skip the probe job that checks the nodes see and can write --out."),
    click.option("--probe-timeout", type=click.FloatRange(1, 86400), help="Seconds to wait for the probe job "
                                                                           "(default 600)."),
    click.option("--slurm-partition", help="Slurm partition (default: the cluster's default)."),
    click.option("--slurm-gpus-per-task", type=click.IntRange(1, 64), help="GPUs per Slurm job."),
    click.option("--slurm-cpus-per-task", type=click.IntRange(1, 1024), help="CPUs per Slurm job."),
    click.option("--slurm-mem", help="Memory per Slurm job, e.g. 16G."),
    click.option("--slurm-account", help="Slurm account to charge."),
    click.option("--time", help="Slurm time limit per job (minutes, H:MM:SS or D-HH:MM:SS; default 4:00:00); "
                                "a job that reaches it is requeued and continues."),
    click.option("--ray-address", help="Ray cluster to connect to ('auto' or host:port; default: start a local Ray)."),
    click.option("--ray-cpus-per-task", type=click.FloatRange(0.01, 1024), help="CPUs per Ray task (default 1)."),
    click.option("--ray-gpus-per-task", type=click.FloatRange(0, 64), help="GPUs per Ray task (default 0)."),
    click.option("--ray-max-retries", type=click.IntRange(0, 100), help="Ray retries of a task whose worker died "
                                                                        "(default 3)."),
    click.option("--recycle-shards", type=click.IntRange(0, 1000000), default=20, show_default=True,
                 help="Replace a worker's Blender process after this many shards (0: never)."),
    click.option("--max-attempts", type=click.IntRange(1, 100), default=3, show_default=True,
                 help="Tries per shard before it is reported failed (the other shards go on)."),
]


def executor_options(f):
    """Add the executor flags; the command receives `cluster` (ClusterOptions or None for local),
    `recycle_shards` and `max_attempts`."""
    for opt in reversed(OPTIONS):
        f = opt(f)

    @functools.wraps(f)
    def wrapper(*args, **kw):
        flags = {k: kw.pop(k) for k in ("executor",) + _CLUSTER + _SLURM + _RAY}
        kw["cluster"] = cluster_options(**flags)
        return f(*args, **kw)
    return wrapper


def _given(flags: dict, names) -> list[str]:
    return ["--" + n.replace("_", "-") for n in names if flags[n] not in (None, False)]


def cluster_options(executor: str, **flags):
    """ClusterOptions from the flags (None for --executor local); flags of another executor are refused."""
    from latentscape.pipeline.cluster import ClusterOptions
    from latentscape.pipeline.ray_engine import RayOptions
    from latentscape.pipeline.slurm import SlurmOptions, parse_time
    foreign = {"local": _CLUSTER + _SLURM + _RAY, "slurm": _RAY, "ray": _SLURM}[executor]
    if bad := _given(flags, foreign):
        raise click.UsageError(f"{', '.join(bad)} do(es) not apply to --executor {executor}")
    if executor == "local":
        return None
    f = flags
    slurm = SlurmOptions(partition=f["slurm_partition"], gpus_per_task=f["slurm_gpus_per_task"],
                         cpus_per_task=f["slurm_cpus_per_task"], mem=f["slurm_mem"], account=f["slurm_account"],
                         time_min=parse_time(f["time"]) if f["time"] else 240)
    ray = RayOptions(address=f["ray_address"], cpus_per_task=f["ray_cpus_per_task"] or 1.0,
                     gpus_per_task=f["ray_gpus_per_task"] or 0.0,
                     max_retries=3 if f["ray_max_retries"] is None else f["ray_max_retries"])
    return ClusterOptions(executor, jobs=f["jobs"] or 1, detach=f["detach"], probe=not f["no_probe"],
                          probe_timeout_s=f["probe_timeout"] or 600.0, slurm=slurm, ray=ray)


@click.command()
@click.argument("root", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(root, as_json):
    """Shards done / running / failed / missing in ROOT, the rate and the ETA (read from ROOT alone)."""
    from latentscape.pipeline.status import root_status
    st = root_status(root)
    if as_json:
        import json
        click.echo(json.dumps({"root": str(st.root), "n": st.n, "images_done": st.done_images, "shards": st.shards,
                               "shards_done": st.done_shards, "shards_running": [r[0] for r in st.running],
                               "shards_failed": [f.shard_id for f in st.failed],
                               "shards_missing": max(0, st.missing_shards), "rate_img_s": st.rate_img_s,
                               "eta_s": st.eta_s, "failures": {f.shard_id: f.last_cause for f in st.failed},
                               "queue": st.queue}, indent=1))
        return
    for line in st.lines():
        click.echo(line)
