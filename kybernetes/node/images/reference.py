"""Image references, parsed and normalised as Docker and containerd do.

A reference is `[domain/]path[:tag][@digest]`. The domain is the first
component when it looks like a host (has a `.` or a `:`, or is `localhost`),
otherwise Docker Hub (`docker.io`), where one-component paths live under
`library/`. With neither tag nor digest the tag is `latest`; with both, the
digest decides what is pulled and the tag is kept as a name. Pure code: the
grammar is distribution's reference grammar, written from its description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kybernetes.node.images.errors import InvalidImageNameError

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_TAG",
    "ImageReference",
    "parse_reference",
    "parse_digest",
]

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_DOMAINS = {"index.docker.io", "registry-1.docker.io"}
_MAX_NAME = 255

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_HEX64 = re.compile(r"[a-f0-9]{64}")


@dataclass(frozen=True)
class ImageReference:
    """A normalised reference: `domain/path`, plus a tag, a digest, or both."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """`docker.io/library/nginx`: the name without tag or digest."""
        return f"{self.domain}/{self.path}"

    @property
    def object(self) -> str:
        """What to ask the registry's manifests endpoint for: digest before tag."""
        if self.digest is not None:
            return self.digest
        return self.tag or DEFAULT_TAG

    def with_digest(self, digest: str) -> ImageReference:
        """`repo@digest`: the immutable name of what a tag resolved to."""
        return ImageReference(self.domain, self.path, None, digest)

    def __str__(self) -> str:
        text = self.repository
        if self.tag is not None:
            text += ":" + self.tag
        if self.digest is not None:
            text += "@" + self.digest
        return text


def parse_digest(text: str) -> str:
    """Check an `algorithm:hex` digest; only sha256 is accepted for content."""
    if not _DIGEST.fullmatch(text):
        raise InvalidImageNameError("invalid checksum digest format")
    algorithm, _, hexpart = text.partition(":")
    if algorithm != "sha256":
        raise InvalidImageNameError("unsupported digest algorithm")
    if not _HEX64.fullmatch(hexpart):
        raise InvalidImageNameError("invalid checksum digest length")
    return text


def _invalid(image: str, why: str = "invalid reference format") -> InvalidImageNameError:
    # The kubelet's wording around distribution's reference errors.
    return InvalidImageNameError(f'couldn\'t parse image reference "{image}": {why}')


def parse_reference(image: str) -> ImageReference:
    """Parse `image` as Docker does, filling in docker.io, library/ and latest.

    Raises InvalidImageNameError with distribution's words for the problem.
    """
    if not image:
        raise _invalid(image, "repository name must have at least one component")
    rest = image
    digest: str | None = None
    if "@" in rest:
        rest, _, digest_text = rest.partition("@")
        try:
            digest = parse_digest(digest_text)
        except InvalidImageNameError as exc:
            raise _invalid(image, str(exc)) from None
    tag: str | None = None
    # A tag's colon comes after the last slash; a colon before it is a port.
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise _invalid(image)
    if not rest:
        raise _invalid(image)
    if len(rest) > _MAX_NAME:
        raise _invalid(image, f"repository name must not be more than {_MAX_NAME} characters")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.fullmatch(first):
            raise _invalid(image)
        domain, path = first, remainder
    else:
        domain, path = DEFAULT_DOMAIN, rest
    if path.lower() != path:
        raise _invalid(image, "invalid reference format: repository name must be lowercase")
    if not all(_PATH_COMPONENT.fullmatch(part) for part in path.split("/")):
        raise _invalid(image)
    if domain in _LEGACY_DOMAINS:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        # A bare 64-hex name would be mistaken for an image ID, as Docker says.
        if _HEX64.fullmatch(path) and tag is None and digest is None:
            raise _invalid(
                image,
                f"invalid repository name ({path}), cannot specify 64-byte hexadecimal strings",
            )
        path = "library/" + path
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(domain, path, tag, digest)
