"""What configuration means: schemas, typed metadata, validation, layers, the versioned store.

The names below are the package's public surface; the modules hold the rest.
"""

from crm_platform.metadata.errors import ConfigurationInvalid as ConfigurationInvalid
from crm_platform.metadata.errors import MetadataError as MetadataError
from crm_platform.metadata.errors import PublishConflict as PublishConflict
from crm_platform.metadata.errors import UnknownTenant as UnknownTenant
from crm_platform.metadata.errors import UnknownUnit as UnknownUnit
from crm_platform.metadata.field_types import FieldDef as FieldDef
from crm_platform.metadata.model import Configuration as Configuration
from crm_platform.metadata.model import EntityDef as EntityDef
from crm_platform.metadata.model import localize as localize
from crm_platform.metadata.store import MetadataStore as MetadataStore
