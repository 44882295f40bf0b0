import numpy as np
from scipy import stats

from latentscape.latents import geometry as geo


def test_quat_matrix_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(200):
        q = geo.random_quaternion(rng)
        m = geo.quat_to_matrix(q)
        assert np.allclose(m @ m.T, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(m), 1.0)
        assert np.allclose(geo.matrix_to_quat(m), q, atol=1e-9)
        assert q[0] >= 0


def test_euler_round_trip_and_axes():
    rng = np.random.default_rng(1)
    for _ in range(200):
        ypr = rng.uniform([-np.pi, -np.pi / 2 + 1e-3, -np.pi], [np.pi, np.pi / 2 - 1e-3, np.pi])
        m = geo.euler_to_matrix(*ypr)
        assert np.allclose(geo.matrix_to_euler(m), ypr, atol=1e-9)
    # yaw +90 deg turns the front (-Y) towards +X, counter-clockwise seen from above
    assert np.allclose(geo.euler_to_matrix(np.pi / 2, 0, 0) @ [0, -1, 0], [1, 0, 0], atol=1e-12)


def test_canonical_pose_faces_camera():
    # front (-Y) points to the camera (-z), up (+Z) is image up (+y), +X is image right
    assert np.allclose(geo.ASSET_TO_CAMERA @ [0, -1, 0], [0, 0, -1])
    assert np.allclose(geo.ASSET_TO_CAMERA @ [0, 0, 1], [0, 1, 0])
    assert np.allclose(geo.ASSET_TO_CAMERA @ [1, 0, 0], [1, 0, 0])


def test_projection_and_ray_agree():
    for u, v in [(0, 0), (0.5, -0.3), (-0.9, 0.9)]:
        p = 3.0 * geo.ray_direction(u, v, 40.0)
        assert np.allclose(geo.project(p, 40.0)[0], [u, v])
    # a point on the frame edge at 45 deg half-angle
    assert np.allclose(geo.project(np.array([1.0, 0, 1.0]), 90.0)[0], [1.0, 0.0])


def test_so3_haar_angle_distribution():
    """Rotation angles of Haar-uniform rotations have density (1 - cos t) / pi on [0, pi]."""
    rng = np.random.default_rng(12345)
    angles = np.array([geo.rotation_angle(geo.random_quaternion(rng)) for _ in range(20000)])
    cdf = lambda t: (t - np.sin(t)) / np.pi
    assert stats.kstest(angles, cdf).pvalue > 0.01
    # a uniform-in-Euler sampler would fail the same test
    bad = [geo.rotation_angle(geo.matrix_to_quat(geo.euler_to_matrix(*rng.uniform(-np.pi, np.pi, 3))))
           for _ in range(20000)]
    assert stats.kstest(bad, cdf).pvalue < 1e-6


def test_in_frame():
    ext = np.ones(3)
    q = np.array([1.0, 0, 0, 0])
    assert geo.in_frame(ext, [0, 0, 4], q, 1.0, 40, 0.02)
    assert not geo.in_frame(ext, [1.5, 0, 4], q, 1.0, 40, 0.02)
    assert not geo.in_frame(ext, [0, 0, 0.3], q, 1.0, 40, 0.0)  # behind the near plane
