"""Pose modes upright and facing (issue 12): Euler angles with mode defaults, the stored
rotation agrees with them, and the object's up / front axis stays where the mode promises."""
from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

from latentscape import DatasetSpec, sample_latents
from latentscape.errors import SpecError
from latentscape.latents.geometry import quat_to_matrix
from latentscape.resolve import resolve


def draws(mode, n=4000, **kw):
    return sample_latents(DatasetSpec(n=n, library="procedural", vary=("pose",), pose_mode=mode, **kw))


def test_upright_keeps_the_up_axis_within_the_tilt_of_pitch_and_roll():
    lat = draws("upright")
    yaw, pitch, roll = np.degrees(lat["rotation_euler"]).T
    assert np.abs(pitch).max() <= 20 + 1e-9 and np.abs(roll).max() <= 20 + 1e-9
    assert yaw.min() < -170 and yaw.max() > 170  # any turn about the up axis
    up = quat_to_matrix(lat["rotation_quat"])[:, :, 2]  # where the asset's +Z (up) goes
    tilt = np.degrees(np.arccos(np.clip(up[:, 2], -1, 1)))
    # R = Rz(yaw) Rx(pitch) Ry(roll): the up axis tilts by acos(cos pitch cos roll) <= acos(cos^2 20deg)
    assert tilt.max() <= math.degrees(math.acos(math.cos(math.radians(20)) ** 2)) + 1e-6
    assert tilt.max() > 25  # the bound is reached, not a narrower range
    np.testing.assert_allclose(np.cos(np.radians(tilt)), np.cos(np.radians(pitch)) * np.cos(np.radians(roll)),
                               atol=1e-9)


def test_facing_is_the_seed_papers_45_degrees_around_the_camera_facing_pose():
    lat = draws("facing")
    e = np.degrees(lat["rotation_euler"])
    assert np.abs(e).max() <= 45 + 1e-9 and np.abs(e).min(0).max() < 1 and (np.abs(e).max(0) > 44).all()
    front = -quat_to_matrix(lat["rotation_quat"])[:, :, 1]  # the asset's front (-Y) after rotation
    # canonical pose: the front faces the camera; +-45 deg per angle never turns it away
    canonical_front = -quat_to_matrix(np.array([[1.0, 0, 0, 0]]))[0, :, 1]
    assert (front @ canonical_front > 0).all()


def test_mode_defaults_can_be_overridden_and_foreign_parameters_are_refused():
    from latentscape.latents.distributions import Dist
    lat = draws("upright", n=500, distributions=(("pitch", Dist(kind="uniform", low=-0.1, high=0.1)),))
    assert np.abs(lat["rotation_euler"][:, 1]).max() <= 0.1 + 1e-9
    assert np.abs(lat["rotation_euler"][:, 2]).max() > math.radians(19)  # roll keeps the mode default
    with pytest.raises(SpecError, match="'rotation' is only used with pose_mode: so3"):
        DatasetSpec(n=10, vary=("pose",), pose_mode="facing", fix=(("rotation", (1.0, 0.0, 0.0, 0.0)),))


def test_each_mode_is_its_own_dataset_identity():
    ids = {m: resolve(DatasetSpec(n=10, library="procedural", vary=("pose",), pose_mode=m)).identity()
           for m in ("so3", "euler", "upright", "facing")}
    assert len(set(ids.values())) == 4
    spec = DatasetSpec(n=10, library="procedural", vary=("pose",), pose_mode="upright")
    assert DatasetSpec.from_dict(spec.to_dict()) == spec


def test_cli_latents_in_upright_mode(tmp_path):
    from latentscape.cli import main
    out = tmp_path / "lat.h5"
    with pytest.raises(SystemExit) as e:
        main(["latents", "--n", "64", "--library", "procedural", "--vary", "pose", "--pose-mode", "upright",
              "--out", str(out)])
    assert e.value.code == 0
    with h5py.File(out) as f:
        e = f["latents/rotation_euler"][()]
    assert np.abs(np.degrees(e[:, 1:])).max() <= 20 + 1e-9
