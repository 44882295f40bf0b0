"""Blender (bpy 5.0.1) rendering core: Stage, pixel readback and device selection."""
import os

# OpenColorIO caches one processor per distinct set of view parameters and never
# evicts; the stage sets a new colour-management exposure per image (env_strength),
# and with the AgX view each cached processor holds ~2.9 MB: +2.9 GB per 1,000
# images. Disabling the processor cache keeps memory flat at no measurable cost
# (measured in docs/performance.md). OCIO reads this when bpy is imported, which is
# why it is set here, before any module of this package imports bpy.
os.environ.setdefault("OCIO_DISABLE_PROCESSOR_CACHES", "1")
