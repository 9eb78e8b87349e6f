"""Send decisions carry the eligibility rule behind them, so nothing reads their wording.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Reports and the after-case policy matched the text of a decision's reason ("quiet hours ...",
"cap ...", "open case ..."). Decisions recorded before this revision get their rule from that
text once, here (the wording was fixed by the send activity until now); decisions that name no
eligibility rule (sent, failed, bounced, ...) keep NULL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The last place the wording of a reason is read: old rows, by the words the activity used.
_RULE_FROM_REASON = """
UPDATE send_decisions SET rule = CASE
    WHEN decision = 'deferred' AND reason LIKE 'quiet hours%' THEN 'quiet_hours'
    WHEN decision IN ('deferred', 'skipped') AND reason LIKE 'cap %' THEN 'cap'
    WHEN decision = 'deferred' AND reason LIKE 'open case%' THEN 'open_case'
    WHEN decision = 'skipped' AND reason LIKE 'held during an open case%' THEN 'after_case'
    WHEN decision = 'skipped' AND reason LIKE 'no % address' THEN 'no_address'
    WHEN decision = 'suppressed' AND reason LIKE 'unsubscribed from %' THEN 'consent'
    WHEN decision = 'suppressed' AND reason LIKE 'suppressed%' THEN 'suppressed'
END
WHERE rule IS NULL
"""


def upgrade() -> None:
    op.add_column("send_decisions", sa.Column("rule", sa.String(32), nullable=True))
    op.execute(_RULE_FROM_REASON)


def downgrade() -> None:
    with op.batch_alter_table("send_decisions") as batch:
        batch.drop_column("rule")
