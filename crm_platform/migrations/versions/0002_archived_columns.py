"""archived columns of removed fields

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('archived_columns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.String(length=63), nullable=False),
    sa.Column('column_name', sa.String(length=127), nullable=False),
    sa.Column('field_key', sa.String(length=63), nullable=False),
    sa.Column('field', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('column_type', sa.String(length=255), nullable=False),
    sa.Column('whole_entity', sa.Boolean(), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_archived_columns_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_archived_columns')),
    sa.UniqueConstraint('tenant_id', 'entity', 'column_name', name=op.f('uq_archived_columns_tenant_id_entity_column_name'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('archived_columns')
