"""The data plane: tenants, the org tree, entity tables, the record service, security and jobs.

The names below are the package's public surface; the modules hold the rest.
"""

from crm_platform.runtime.errors import AccessDenied as AccessDenied
from crm_platform.runtime.errors import InvalidOperation as InvalidOperation
from crm_platform.runtime.errors import RecordInvalid as RecordInvalid
from crm_platform.runtime.errors import RecordNotFound as RecordNotFound
from crm_platform.runtime.errors import RuntimeFailure as RuntimeFailure
from crm_platform.runtime.errors import StaleVersion as StaleVersion
from crm_platform.runtime.errors import UnsafeMigration as UnsafeMigration
from crm_platform.runtime.events import EventBus as EventBus
from crm_platform.runtime.events import RecordEvent as RecordEvent
from crm_platform.runtime.principal import Principal as Principal
from crm_platform.runtime.principal import RoleGrant as RoleGrant
from crm_platform.runtime.record_queries import Count as Count
from crm_platform.runtime.record_queries import Page as Page
from crm_platform.runtime.records import RecordService as RecordService
