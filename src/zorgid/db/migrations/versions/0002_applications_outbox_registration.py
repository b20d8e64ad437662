"""Accepted applications, mail outbox, registration requests and their timelines.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 16:58:20.226393
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zorgid.db.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "accepted_applications",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("vendor", sa.String(length=200), nullable=False),
        sa.Column("supports", sa.String(length=500), nullable=False),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("created_at", zorgid.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", zorgid.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", zorgid.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accepted_applications")),
    )
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column(
            "state",
            sa.Enum("pending", "sent", "failed", name="outbox_state", native_enum=False),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", zorgid.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", zorgid.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", zorgid.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", zorgid.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_mail_outbox_message_id")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_mail_outbox_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_outbox_topic"), ["topic"], unique=False)

    op.create_table(
        "registration_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "awaiting_document",
                "awaiting_details",
                "awaiting_review",
                "approved",
                "completed",
                "rejected",
                "withdrawn",
                "expired",
                name="registration_state",
                native_enum=False,
            ),
            nullable=False,
        ),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("ura", sa.String(length=8), nullable=False),
        sa.Column("organisation_name", sa.String(length=200), nullable=False),
        sa.Column("technical_name", sa.String(length=200), nullable=False),
        sa.Column("technical_email", sa.String(length=320), nullable=False),
        sa.Column("admin_name", sa.String(length=200), nullable=False),
        sa.Column("admin_email", sa.String(length=320), nullable=False),
        sa.Column("applications", sa.JSON(), nullable=False),
        sa.Column("reply_token_hash", sa.String(length=64), nullable=True),
        sa.Column("details_token_hash", sa.String(length=64), nullable=True),
        sa.Column("challenge_hash", sa.String(length=64), nullable=True),
        sa.Column("challenge_used_at", zorgid.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", zorgid.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "admin_email_confirmed_at", zorgid.db.base.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("admin_full_name", sa.String(length=200), nullable=True),
        sa.Column("admin_birth_date", sa.Date(), nullable=True),
        sa.Column("admin_phone", sa.String(length=32), nullable=True),
        sa.Column("signed_document", sa.LargeBinary(), nullable=True),
        sa.Column("verification", sa.JSON(), nullable=True),
        sa.Column("organisation_id", sa.String(length=32), nullable=True),
        sa.Column("admin_person_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("created_at", zorgid.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", zorgid.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_person_id"],
            ["persons.id"],
            name=op.f("fk_registration_requests_admin_person_id_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_registration_requests_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_requests")),
        sa.UniqueConstraint(
            "details_token_hash", name=op.f("uq_registration_requests_details_token_hash")
        ),
        sa.UniqueConstraint("number", name=op.f("uq_registration_requests_number")),
        sa.UniqueConstraint(
            "reply_token_hash", name=op.f("uq_registration_requests_reply_token_hash")
        ),
    )
    with op.batch_alter_table("registration_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registration_requests_admin_person_id"),
            ["admin_person_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_registration_requests_deadline_at"), ["deadline_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_registration_requests_state"), ["state"], unique=False)

    op.create_table(
        "registration_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("at", zorgid.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["registration_requests.id"],
            name=op.f("fk_registration_events_request_id_registration_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_events")),
    )
    with op.batch_alter_table("registration_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registration_events_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("registration_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registration_events_request_id"))

    op.drop_table("registration_events")
    with op.batch_alter_table("registration_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registration_requests_state"))
        batch_op.drop_index(batch_op.f("ix_registration_requests_deadline_at"))
        batch_op.drop_index(batch_op.f("ix_registration_requests_admin_person_id"))

    op.drop_table("registration_requests")
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_outbox_topic"))
        batch_op.drop_index("ix_mail_outbox_due")

    op.drop_table("mail_outbox")
    op.drop_table("accepted_applications")
