"""Distractors on the stage: linked duplicates of loaded objects (docs/scenes.md, "Clutter and occlusion").

A distractor is a new Blender object (or a root empty with one object per part) that shares the
mesh data of an object the `ObjectStore` loaded, so the same library object can be the target
and a distractor, or several distractors, without a second load. Instances keep pass index 0:
the object mask (pass index 1) is the target's unoccluded pixels only. Instances are made on
first use, reused between images (hidden when not needed) and removed before the store frees
the objects they share data with.
"""
from __future__ import annotations

import bpy

from .objects import Loaded


class Instances:
    """The distractor instances of a stage, by (object id, k-th use in an image)."""

    def __init__(self, scene, store):
        self.scene, self.store = scene, store
        self.made: dict[tuple[int, int], Loaded] = {}
        self.shown: list[Loaded] = []
        self.posed: dict[tuple[int, int], tuple] = {}  # the pose each instance was last given

    def place(self, distractors, pose, rig: tuple) -> None:
        """Pose one instance per distractor with `pose(root, distractor)` (only where the distractor or
        the camera `rig` changed) and hide the instances no distractor uses. Visibility of the
        image's own instances is `set_shown`'s."""
        want, uses = [], {}
        for d in distractors:
            k = uses.get(d.object_id, 0)
            uses[d.object_id] = k + 1
            inst = self._instance(d.object_id, k)
            if self.posed.get((d.object_id, k)) != (d, rig):
                pose(inst.root, d)
                self.posed[(d.object_id, k)] = (d, rig)
            want.append(inst)
        keep = {id(x) for x in want}
        for inst in self.shown:
            if id(inst) not in keep:
                _visible(inst, False)
        self.shown = want

    def set_shown(self, shown: bool) -> None:
        """Show (or hide) the instances of the current image."""
        for inst in self.shown:
            _visible(inst, shown)

    def hide_all(self) -> None:
        """Hide every instance and forget the current image's (as after a reset)."""
        for inst in self.shown:
            _visible(inst, False)
        self.shown, self.posed = [], {}

    def clear(self) -> None:
        """Remove every instance (before the store frees the objects they share data with)."""
        for inst in self.made.values():
            for ob in {id(o): o for o in [*inst.parts, inst.root]}.values():
                try:
                    bpy.data.objects.remove(ob, do_unlink=True)
                except ReferenceError:
                    pass
        self.made, self.shown, self.posed = {}, [], {}

    def _instance(self, oid: int, k: int) -> Loaded:
        key = (oid, k)
        if key not in self.made:
            self.made[key] = _duplicate(self.scene, self.store.get(oid), f"distractor_{oid}_{k}")
        return self.made[key]


def _visible(inst: Loaded, vis: bool) -> None:
    for ob in inst.parts:
        if ob.hide_render == vis:
            ob.hide_render = not vis


def _duplicate(scene, src: Loaded, name: str) -> Loaded:
    """A linked duplicate of a loaded object: new objects sharing its meshes, hidden, pass index 0."""
    single = len(src.parts) == 1 and src.parts[0] is src.root
    root = bpy.data.objects.new(name, src.root.data if single else None)
    scene.collection.objects.link(root)
    root.rotation_mode = "QUATERNION"
    parts = [root] if single else []
    if not single:
        for i, p in enumerate(src.parts):
            ob = bpy.data.objects.new(f"{name}.{i}", p.data)
            scene.collection.objects.link(ob)
            ob.parent = root
            ob.matrix_parent_inverse = p.matrix_parent_inverse.copy()
            ob.matrix_basis = p.matrix_basis.copy()
            parts.append(ob)
    for ob in parts:
        ob.pass_index = 0
        ob.hide_render = True
    return Loaded(root=root, parts=parts, datablocks=[])
