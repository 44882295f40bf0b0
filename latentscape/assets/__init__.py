"""Asset libraries (objects with categories) and backgrounds. Never imports bpy."""
from latentscape.assets.library import AssetLibrary, ObjectInfo, load_library
from latentscape.assets.backgrounds import Background, default_backgrounds

__all__ = ["AssetLibrary", "ObjectInfo", "load_library", "Background", "default_backgrounds"]
