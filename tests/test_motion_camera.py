"""Camera control against closed-form cases."""
import math

import numpy as np
import pytest

from motionstream_core.motion.camera import CameraPath, camera_tracks, grid_points
from motionstream_core.motion.drag import drag_track
from motionstream_core.tracks import TrackError

W, H, T = 96, 64, 9
C = np.array([W / 2, H / 2])
F0 = (W / 2) / math.tan(math.radians(30))  # default fov 60 degrees
S = np.arange(T) / (T - 1)                  # linear progress per frame


def test_grid_points_are_cell_centres():
    g = grid_points(W, H, 32)
    assert g.tolist() == [[16, 16], [48, 16], [80, 16], [16, 48], [48, 48], [80, 48]]


def test_pure_zoom_scales_about_the_principal_point():
    tr = camera_tracks(CameraPath(zoom=2.0), W, H, T, grid_spacing=16)
    p0 = tr.path[0]
    for t in range(T):
        scale = 2.0 ** S[t]  # interpolated geometrically
        expect = C + scale * (p0 - C)
        inside = (expect[:, 0] >= 0) & (expect[:, 0] <= W) & (expect[:, 1] >= 0) & (expect[:, 1] <= H)
        np.testing.assert_allclose(tr.path[t][inside], expect[inside], atol=1e-3)
        np.testing.assert_array_equal(tr.visible[t], inside)  # points that leave the frame are hidden
    assert tr.kinds == ("camera",) * tr.num_tracks


def test_pan_shifts_uniformly_at_constant_depth():
    tr = camera_tracks(CameraPath(pan_x=0.1, pan_y=0.05), W, H, T, grid_spacing=16)
    shift = tr.path - tr.path[:1]
    for t in range(T):
        vis = tr.visible[t]
        np.testing.assert_allclose(shift[t][vis], np.tile([-0.1 * W * S[t], 0.05 * H * S[t]], (vis.sum(), 1)),
                                   atol=1e-3)


def test_with_a_depth_map_near_points_move_more():
    depth = np.ones((H, W), np.float32) * 4.0
    depth[:, : W // 2] = 1.0  # left half near, right half far
    tr = camera_tracks(CameraPath(pan_x=0.05), W, H, T, grid_spacing=16, depth=depth)
    p0 = tr.path[0]
    near = p0[:, 0] < W / 2 - 8
    far = p0[:, 0] > W / 2 + 8
    shift = tr.path[-1, :, 0] - p0[:, 0]
    z_ref = np.median(depth)  # depth is normalised by its median
    np.testing.assert_allclose(shift[near], -0.05 * W * z_ref / 1.0, atol=1e-3)
    np.testing.assert_allclose(shift[far], -0.05 * W * z_ref / 4.0, atol=1e-3)
    assert np.abs(shift[near]).min() > 3 * np.abs(shift[far]).max()
    np.testing.assert_allclose(tr.path[-1, :, 1], p0[:, 1], atol=1e-4)  # horizontal pan: y unchanged
    small = depth[::2, ::2]  # a depth image of another size is resized to the output
    np.testing.assert_allclose(camera_tracks(CameraPath(pan_x=0.05), W, H, T, grid_spacing=16, depth=small).path,
                               tr.path, atol=1e-3)


def test_disparity_maps_are_inverted():
    disp = np.ones((H, W), np.float32)
    disp[:, : W // 2] = 4.0  # near = large disparity
    a = camera_tracks(CameraPath(pan_x=0.05), W, H, T, grid_spacing=16, depth=disp, disparity=True)
    b = camera_tracks(CameraPath(pan_x=0.05), W, H, T, grid_spacing=16, depth=1.0 / disp)
    np.testing.assert_allclose(a.path, b.path, atol=1e-4)
    rgb = np.repeat((1.0 / disp)[None, ..., None], 3, -1)  # a ComfyUI IMAGE [1, H, W, 3] works as depth too
    np.testing.assert_allclose(camera_tracks(CameraPath(pan_x=0.05), W, H, T, grid_spacing=16, depth=rgb).path,
                               b.path, atol=1e-4)


def test_dolly_moves_points_away_from_the_centre():
    d = 0.3
    tr = camera_tracks(CameraPath(dolly=d), W, H, T, grid_spacing=16)
    p0 = tr.path[0]
    for t in range(T):
        expect = C + (p0 - C) / (1 - d * S[t])
        vis = tr.visible[t]
        np.testing.assert_allclose(tr.path[t][vis], expect[vis], atol=1e-3)


def test_rotations_move_the_centre_by_f_tan():
    yaw = camera_tracks(CameraPath(yaw=10), 96, 96, T, grid_spacing=32)  # a grid point sits at the centre
    centre = np.flatnonzero((yaw.path[0] == [48, 48]).all(1))[0]
    f = 48 / math.tan(math.radians(30))
    np.testing.assert_allclose(yaw.path[:, centre, 0], 48 - f * np.tan(np.radians(10 * S)), atol=1e-3)
    np.testing.assert_allclose(yaw.path[:, centre, 1], 48, atol=1e-4)
    tilt = camera_tracks(CameraPath(tilt=10), 96, 96, T, grid_spacing=32)
    np.testing.assert_allclose(tilt.path[:, centre, 1], 48 + f * np.tan(np.radians(10 * S)), atol=1e-3)
    roll = camera_tracks(CameraPath(roll=90), 96, 96, T, grid_spacing=32)
    np.testing.assert_allclose(roll.path[:, centre], 48, atol=1e-4)  # roll turns about the centre
    corner = np.flatnonzero((roll.path[0] == [16, 16]).all(1))[0]
    np.testing.assert_allclose(roll.path[-1, corner], [16, 80], atol=1e-3)  # 90 degrees: scene turns CCW


def test_orbit_keeps_its_axis_in_place():
    """Orbiting around the vertical axis through the centre at the reference depth: points on that axis
    (x = W/2 at constant depth) stay where they are, every other point moves."""
    tr = camera_tracks(CameraPath(orbit=20), 96, 96, T, grid_spacing=32)
    on_axis = tr.path[0, :, 0] == 48
    np.testing.assert_allclose(tr.path[:, on_axis], np.broadcast_to(tr.path[:1, on_axis], tr.path[:, on_axis].shape),
                               atol=1e-4)
    moved = np.abs(tr.path[-1] - tr.path[0]).max(1)
    assert (moved[~on_axis] > 1).all()


def test_motions_combine_over_time():
    paths = [CameraPath(pan_x=0.1, end=0.5), CameraPath(zoom=2.0, start=0.5)]
    tr = camera_tracks(paths, W, H, T, grid_spacing=16)
    p0 = tr.path[0]
    mid = T // 2  # progress 0.5: the pan is done, the zoom not started
    vis = tr.visible[mid]
    np.testing.assert_allclose(tr.path[mid][vis], (p0 + [-0.1 * W, 0])[vis], atol=1e-3)
    expect = C + 2.0 * (p0 + [-0.1 * W, 0] - C)
    vis = tr.visible[-1]
    np.testing.assert_allclose(tr.path[-1][vis], expect[vis], atol=1e-3)
    eased = camera_tracks(CameraPath(pan_x=0.1, easing="ease"), W, H, 5, grid_spacing=32)
    np.testing.assert_allclose(eased.path[1, 0, 0] - eased.path[0, 0, 0], -0.1 * W * (3 / 16 - 2 / 64), atol=1e-3)


def test_camera_and_drag_tracks_combine():
    cam = camera_tracks(CameraPath(pan_x=0.1), W, H, T, grid_spacing=32)
    drag = drag_track([(0, 20, 20), (8, 60, 40)], T, width=W, height=H)
    both = drag.concat(cam)
    assert both.num_tracks == 1 + cam.num_tracks
    assert both.kinds[0] == "drag" and set(both.kinds[1:]) == {"camera"}


def test_points_behind_the_camera_are_hidden_and_finite():
    tr = camera_tracks(CameraPath(yaw=170), W, H, T, grid_spacing=16)
    assert not tr.visible[-1].any()
    assert np.isfinite(tr.path).all()


@pytest.mark.parametrize("make, message", [
    (lambda: CameraPath(zoom=0), "CameraPath.zoom must be > 0; got 0"),
    (lambda: CameraPath(dolly=1.0), "CameraPath.dolly must be < 1 (1 reaches the reference depth); got 1.0"),
    (lambda: CameraPath(start=0.6, end=0.4), "CameraPath needs 0 <= start < end <= 1; got start=0.6, end=0.4"),
    (lambda: CameraPath(pan_x=float("inf")), "CameraPath.pan_x must be a finite number; got inf"),
    (lambda: CameraPath(easing="bounce"), "CameraPath.easing must be one of linear, ease; got 'bounce'"),
    (lambda: camera_tracks(CameraPath(), W, H, T, depth=-np.ones((4, 4))),
     "depth must be positive; found -1 at row 0, column 0 (pass disparity=True for inverse-depth maps)"),
    (lambda: camera_tracks(CameraPath(), W, H, T, depth=np.ones(5)),
     "depth must be an image [H, W] (or [H, W, C], [1, H, W, C]); got (5,)"),
    (lambda: camera_tracks([], W, H, T), "path must be a CameraPath or a non-empty list of CameraPath"),
    (lambda: camera_tracks(CameraPath(), W, H, T, grid_spacing=0), "grid_spacing must be positive; got 0"),
])
def test_camera_errors(make, message):
    with pytest.raises(TrackError) as e:
        make()
    assert str(e.value) == message
