"""Tables of this area (see hub/models.py for the core ones); migration branch off 0002."""

from __future__ import annotations

from hub.models import Base  # noqa: F401  (tables declared here share the one metadata)
