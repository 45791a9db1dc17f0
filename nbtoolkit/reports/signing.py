"""Result objects of signed versions: a signature made (``nbt model sign``) and a check (``nbt model verify``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .base import Result, html_table

if TYPE_CHECKING:
    import pandas as pd


@dataclass(repr=False)
class SignatureMade(Result):
    """A version signed: by which key, over which stored files and ``nbt.*`` tags."""

    name: str
    version: str
    key: str  # sha256 fingerprint of the signer's public key (PEM, SubjectPublicKeyInfo)
    files: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [{"covers": "file", "name": f} for f in self.files] + [{"covers": "tag", "name": t} for t in self.tags]
        return pd.DataFrame(rows, columns=["covers", "name"])

    def summary(self) -> str:
        return (f"Signed {self.name}/{self.version} with key {self.key[:16]}: {len(self.files)} file(s) and "
                f"{len(self.tags)} nbt.* tag(s)")

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(f"  file {f}" for f in self.files), *(f"  tag  {t}" for t in self.tags)])

    def _repr_html_(self) -> str:
        from .render import result

        return result(self.summary(), tables=[("", html_table(self.to_frame()))])


@dataclass(repr=False)
class Verification(Result):
    """Whether a version is signed and its signature holds: by which key, and what changed if not.

    ``valid`` is the verdict (also ``passed``); ``changes`` names each stored file (``file
    model/model.skops``) and ``nbt.*`` tag (``tag nbt.format``) that differs from what was signed.
    """

    name: str
    version: str
    signed: bool
    valid: bool
    key: str | None = None  # fingerprint of the key the signature names
    trusted_key: str | None = None  # the public key file it was checked with
    changes: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.valid

    def __bool__(self) -> bool:
        return self.valid

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{"change": c} for c in self.changes], columns=["change"])

    def summary(self) -> str:
        ref = f"{self.name}/{self.version}"
        if self.valid:
            return f"{ref}: signature valid (key {(self.key or '')[:16]}, {self.trusted_key})"
        return f"{ref}: {'NOT SIGNED' if not self.signed else 'signature NOT valid'}: {self.reason}"

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(f"  {c}" for c in self.changes)])

    def _repr_html_(self) -> str:
        from .render import result

        return result(self.summary(), tables=[("", html_table(self.to_frame()))] if self.changes else [])
