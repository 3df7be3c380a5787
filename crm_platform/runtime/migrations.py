"""Schema migrations on publish: plan the table changes, check the rows, apply, never lose data.

The planner (`migration_plan`) diffs two physical configurations into ordered
steps; the checks (`migration_checks`) find every row a step would break; the
executor (`migration_apply`) refuses the publish with the list of those rows, or
applies the steps inside the publish transaction. A removed field's column is
archived (`migration_archive`: kept, hidden) until `purge_archived_field`;
re-adding the field restores it with its data.
"""

from __future__ import annotations

from crm_platform.runtime.migration_apply import MigrationHook as MigrationHook
from crm_platform.runtime.migration_apply import apply_migration as apply_migration
from crm_platform.runtime.migration_apply import plan_for_publish as plan_for_publish
from crm_platform.runtime.migration_apply import rebuild_sqlite_table as rebuild_sqlite_table
from crm_platform.runtime.migration_archive import field_document as field_document
from crm_platform.runtime.migration_archive import load_archived as load_archived
from crm_platform.runtime.migration_archive import purge_archived_entity as purge_archived_entity
from crm_platform.runtime.migration_archive import purge_archived_field as purge_archived_field
from crm_platform.runtime.migration_checks import CONVERSIONS as CONVERSIONS
from crm_platform.runtime.migration_checks import Conversion as Conversion
from crm_platform.runtime.migration_checks import MigrationRefused as MigrationRefused
from crm_platform.runtime.migration_checks import OffendingRows as OffendingRows
from crm_platform.runtime.migration_checks import RowCountMismatch as RowCountMismatch
from crm_platform.runtime.migration_checks import check_migration as check_migration
from crm_platform.runtime.migration_plan import AddColumn as AddColumn
from crm_platform.runtime.migration_plan import AddIndex as AddIndex
from crm_platform.runtime.migration_plan import ArchivedField as ArchivedField
from crm_platform.runtime.migration_plan import ArchiveEntity as ArchiveEntity
from crm_platform.runtime.migration_plan import ArchiveField as ArchiveField
from crm_platform.runtime.migration_plan import CheckValues as CheckValues
from crm_platform.runtime.migration_plan import ConvertType as ConvertType
from crm_platform.runtime.migration_plan import CreateTable as CreateTable
from crm_platform.runtime.migration_plan import DropIndex as DropIndex
from crm_platform.runtime.migration_plan import MigrationPlan as MigrationPlan
from crm_platform.runtime.migration_plan import RestoreEntity as RestoreEntity
from crm_platform.runtime.migration_plan import RestoreField as RestoreField
from crm_platform.runtime.migration_plan import Step as Step
from crm_platform.runtime.migration_plan import WidenType as WidenType
from crm_platform.runtime.migration_plan import describe_plan as describe_plan
from crm_platform.runtime.migration_plan import plan_migration as plan_migration
