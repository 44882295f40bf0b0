"""Asset libraries (objects with categories) and backgrounds. Never imports bpy."""
from latentscape.assets.backgrounds import Background, default_backgrounds
from latentscape.assets.library import AssetLibrary, ObjectInfo
from latentscape.assets.sources import build_library

__all__ = ["AssetLibrary", "ObjectInfo", "Background", "default_backgrounds", "build_library"]

