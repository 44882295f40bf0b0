"""Rendering: worker processes that own a Blender stage. Only renderer/blender/ imports bpy."""
