"""Asset libraries (objects with categories) and backgrounds. Never imports bpy."""
from latentscape.assets.backgrounds import Background, default_backgrounds
from latentscape.assets.library import AssetLibrary, ObjectInfo
from latentscape.assets.sources import build_library

__all__ = ["AssetLibrary", "ObjectInfo", "Background", "default_backgrounds", "build_library",
           "library_for"]


def library_for(spec) -> AssetLibrary:
    """The library a DatasetSpec asks for: sources, user folders, licence filter."""
    return build_library(spec.library, tuple(spec.assets), spec.license, spec.skip_bad_assets)
