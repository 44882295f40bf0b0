"""Blender (bpy 5.0.1) rendering core: Stage, pixel readback and device selection."""
