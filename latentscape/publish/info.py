"""What a release says about itself: name, version, licence, creators (validated at the boundary)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from latentscape.dataset.remote import NAME, SEMVER  # one rule for writing and reading a release
from latentscape.errors import LatentscapeError

SPDX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")


class PublishError(LatentscapeError):
    """A release cannot be made or put where it was asked to go."""


@dataclass(frozen=True)
class ReleaseInfo:
    """The human side of a release. `creators`: "Family, Given" or an organisation's name."""

    name: str
    version: str
    license: str
    creators: tuple[str, ...]
    title: str = ""
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise PublishError(f"release name {self.name!r}: use lower-case letters, digits, '.', '_' or '-' "
                               f"(e.g. tdwlike)")
        if not isinstance(self.version, str) or not SEMVER.match(self.version):
            raise PublishError(f"version {self.version!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0)")
        if not self.license:
            raise PublishError("--license is required for a release (an SPDX id, e.g. CC-BY-4.0)")
        if not SPDX.match(self.license):
            raise PublishError(f"--license {self.license!r} is not an SPDX licence id (e.g. CC-BY-4.0, CC0-1.0)")
        creators = tuple(c.strip() for c in self.creators if c and c.strip())
        if not creators:
            raise PublishError("--creator is required for a release (repeat it for several: \"Family, Given\")")
        object.__setattr__(self, "creators", creators)

    @property
    def display_title(self) -> str:
        return self.title or f"latentscape-{self.name}"
