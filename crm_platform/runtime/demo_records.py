"""The demo tenant's records: master data, and each sales branch's customers with their business.

Everything goes through `RecordService.bulk_create` with the audited system
principal, so every row is validated, normalised and audited exactly as an
import would be; ownership (owner user, owning unit) is set explicitly to the
branch's sales reps and the branch, so each demo user sees their own book.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from crm_platform.runtime.demo_values import DemoValues, seed_entity_documents
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.records import RecordService

_HISTORY_DAYS = 730
"""How far back the demo records' creation dates reach."""

REASON = "demo data"
"""Written to the audit trail of every demo record."""

SUBSIDIARY_LINES: Mapping[str, tuple[str, ...]] = {
    "sub_heavy_machinery": ("heavy_equipment",),
    "sub_precision": ("precision_equipment",),
    "sub_service": ("maintenance_services", "equipment_leasing"),
    "sub_leasing": ("equipment_leasing",),
    "sub_trading_wholesale": ("industrial_trading",),
    "sub_trading_retail": ("industrial_trading",),
}
"""The product lines each seed subsidiary sells: the lines the seed shares with its BU."""

# (sku, name, list price in yuan) per product line: the group's catalogue.
PRODUCTS: Mapping[str, tuple[tuple[str, str, int], ...]] = {
    "heavy_equipment": (
        ("HC-EX200", "HC200 液压挖掘机", 1_280_000),
        ("HC-EX360", "HC360 大型液压挖掘机", 2_350_000),
        ("HC-WL50", "HC50 轮式装载机", 460_000),
        ("HC-CR80", "HC80 履带起重机", 3_800_000),
    ),
    "precision_equipment": (
        ("HP-VMC850", "VMC850 立式加工中心", 420_000),
        ("HP-HMC630", "HMC630 卧式加工中心", 1_150_000),
        ("HP-CK6150", "CK6150 数控车床", 185_000),
        ("HP-GS400", "GS400 精密数控磨床", 690_000),
    ),
    "maintenance_services": (
        ("HS-MNT-STD", "年度标准维保服务包", 48_000),
        ("HS-MNT-PRO", "年度全面维保服务包", 96_000),
        ("HS-REP-HR", "现场维修工时（每小时）", 600),
        ("HS-TRN", "设备操作培训服务", 12_000),
    ),
    "equipment_leasing": (
        ("HL-OP-12", "12个月经营租赁方案", 180_000),
        ("HL-FL-36", "36个月融资租赁方案", 950_000),
        ("HL-SLB", "售后回租方案", 1_500_000),
    ),
    "industrial_trading": (
        ("HT-BRG-6205", "6205 深沟球轴承（100套）", 1_850),
        ("HT-OIL-46", "46号抗磨液压油（200升）", 3_600),
        ("HT-WLD-E50", "E50 焊条（吨）", 8_900),
        ("HT-CUT-T10", "硬质合金刀片（盒）", 950),
    ),
}

# Price-list channels per line, with the factor applied to the list price; the
# wholesale list (hidden from retail units by the seed's restriction rule) only
# exists for traded goods.
_CHANNELS: Mapping[str, tuple[tuple[str, Decimal], ...]] = {
    "industrial_trading": (
        ("retail", Decimal("1.00")),
        ("distributor", Decimal("0.88")),
        ("wholesale", Decimal("0.78")),
    ),
}
_DEFAULT_CHANNELS = (("retail", Decimal("1.00")), ("distributor", Decimal("0.92")))
_CHANNEL_NAMES: Mapping[str, str] = {
    "retail": "零售价",
    "distributor": "经销价",
    "wholesale": "批发价",
}

# How many of each a customer has: drawn uniformly from these tuples.
_CONTACTS_PER_CUSTOMER = (1, 1, 2, 2, 3)
_OPPORTUNITIES_PER_CUSTOMER = (0, 1, 1, 2)
_ORDERS_PER_CUSTOMER = (0, 0, 1, 2)
_LEADS_PER_CUSTOMER = 0.5
_CASE_CHANCE = 0.35
_CASE_BY_AGENT_CHANCE = 0.6
# A won deal becomes a contract in one of these states; one in negotiation may be drafted.
_WON_CONTRACT: Mapping[str, float] = {
    "signed": 5,
    "completed": 4,
    "terminated": 0.5,
    "drafting": 0,
    "under_review": 0,
}
_NEGOTIATED_CONTRACT: Mapping[str, float] = {
    "drafting": 1,
    "under_review": 1,
    "signed": 0,
    "completed": 0,
    "terminated": 0,
}
_DRAFT_CHANCE = 0.5
_ADVANCE, _BALANCE, _RETENTION = Decimal("0.3"), Decimal("0.6"), Decimal("0.1")
# What has been collected on a contract so far, by its status: one of these instalment plans.
_COLLECTED: Mapping[str, tuple[tuple[Decimal, ...], ...]] = {
    "signed": ((_ADVANCE,), (_ADVANCE, _BALANCE)),
    "completed": ((_ADVANCE, _BALANCE, _RETENTION),),
    "terminated": ((), (_ADVANCE,)),
}
_MAX_DRAWS = 200


@dataclass(frozen=True)
class Branch:
    """A sales branch as the generator sees it: its unit, its lines, who works there."""

    unit_id: int
    key: str
    lines: tuple[str, ...]
    reps: tuple[int, ...]
    agents: tuple[int, ...] = ()
    equipment: bool = False
    """True under the equipment BU, whose layer adds fields to customers and cases."""


@dataclass(frozen=True)
class _Customer:
    id: int
    name: str
    owner: int
    contacts: tuple[int, ...] = ()


def deal(count: int, slots: int) -> list[int]:
    """`count` items dealt over `slots` as evenly as possible, the first slots getting the rest."""
    base, rest = divmod(count, max(slots, 1))
    return [base + (1 if index < rest else 0) for index in range(slots)]


class DemoRecords:
    """Creates the demo records of one tenant through the record service; counts them."""

    def __init__(
        self, records: RecordService, tenant_id: int, values: DemoValues, today: date
    ) -> None:
        self.records = records
        self.tenant_id = tenant_id
        self.values = values
        self.today = today
        self.counts: Counter[str] = Counter()
        self._usccs: set[str] = set()
        self._numbers: Counter[str] = Counter()

    def create_master_data(self) -> None:
        """Product lines, the catalogue, and a price list per product and sales channel."""
        system = Principal.system(self.tenant_id, reason=REASON)
        labels = _line_labels()
        self._create(
            system,
            "product_line",
            [
                {"code": line, "name": labels.get(line, line), "description": _describe(line)}
                for line in PRODUCTS
            ],
        )
        products: list[dict[str, Any]] = [
            {
                "sku": sku,
                "name": name,
                "product_line": line,
                "unit_price": Decimal(price).quantize(Decimal("0.01")),
                "active": True,
            }
            for line, items in PRODUCTS.items()
            for sku, name, price in items
        ]
        ids = self._create(system, "product", products)
        start = date(self.today.year, 1, 1)
        prices = [
            {
                "name": f"{product['name']} {_CHANNEL_NAMES[channel]}",
                "channel": channel,
                "product": product_id,
                "price": (product["unit_price"] * factor).quantize(Decimal("0.01")),
                "valid_from": start,
                "valid_to": date(self.today.year, 12, 31),
            }
            for product_id, product in zip(ids, products, strict=True)
            for channel, factor in _CHANNELS.get(product["product_line"], _DEFAULT_CHANNELS)
        ]
        self._create(system, "price_list", prices)

    def create_branch(self, branch: Branch, customers: int) -> None:
        """`customers` customers of the branch with their contacts, leads and business."""
        if customers <= 0 or not branch.reps:
            return
        principal = Principal.system(self.tenant_id, reason=REASON, unit_id=branch.unit_id)
        book = self._customers(principal, branch, customers)
        book = self._contacts(principal, branch, book)
        self._leads(principal, branch, math.ceil(customers * _LEADS_PER_CUSTOMER))
        self._opportunities_and_contracts(principal, branch, book)
        self._orders(principal, branch, book)
        self._cases(principal, branch, book)

    # -- per entity ------------------------------------------------------------------------------

    def _customers(self, principal: Principal, branch: Branch, count: int) -> list[_Customer]:
        rows = []
        for _ in range(count):
            record = self._draw(self.values.customer, lambda r: r["uscc"] not in self._usccs)
            self._usccs.add(record["uscc"])
            interests = set(record["product_lines"]) | {self.values.pick(branch.lines)}
            record["product_lines"] = [line for line in PRODUCTS if line in interests]
            if branch.equipment:
                record.update(self._installed_base(branch))
            rows.append(self._owned(record, branch, self.values.pick(branch.reps)))
        ids = self._create(principal, "customer", rows)
        return [
            _Customer(id=record_id, name=row["name"], owner=row["owner_user_id"])
            for record_id, row in zip(ids, rows, strict=True)
        ]

    def _installed_base(self, branch: Branch) -> dict[str, Any]:
        fleet = self.values.integer(2, 120)
        extra: dict[str, Any] = {
            "equipment_fleet_size": fleet,
            "huachen_units_installed": self.values.integer(0, fleet),
        }
        if self.values.chance(0.4):
            extra["service_contract_expiry"] = self.values.day(
                self.today - timedelta(days=60), self.today + timedelta(days=720)
            )
        if branch.agents and self.values.chance(0.5):
            extra["key_account_engineer"] = self.values.pick(branch.agents)
        return extra

    def _contacts(
        self, principal: Principal, branch: Branch, book: list[_Customer]
    ) -> list[_Customer]:
        rows, owners = [], []
        for customer in book:
            for index in range(self.values.pick(_CONTACTS_PER_CUSTOMER)):
                record = self.values.contact()
                record.update(customer=customer.id, is_primary=index == 0)
                rows.append(self._owned(record, branch, customer.owner))
                owners.append(customer)
        ids = self._create(principal, "contact", rows)
        contacts: dict[int, list[int]] = {}
        for contact_id, customer in zip(ids, owners, strict=True):
            contacts.setdefault(customer.id, []).append(contact_id)
        return [_Customer(c.id, c.name, c.owner, tuple(contacts.get(c.id, ()))) for c in book]

    def _leads(self, principal: Principal, branch: Branch, count: int) -> None:
        rows = []
        for _ in range(count):
            record = self.values.lead()
            record["product_line"] = self.values.pick(branch.lines)
            rows.append(self._owned(record, branch, self.values.pick(branch.reps)))
        self._create(principal, "lead", rows)

    def _opportunities_and_contracts(
        self, principal: Principal, branch: Branch, book: list[_Customer]
    ) -> None:
        rows, deals = [], []
        for customer in book:
            for _ in range(self.values.pick(_OPPORTUNITIES_PER_CUSTOMER)):
                record = self._draw(
                    partial(self.values.opportunity, customer.name, self.today),
                    lambda r: r["product_line"] in branch.lines,
                )
                record["customer"] = customer.id
                rows.append(self._owned(record, branch, customer.owner))
                deals.append(customer)
        ids = self._create(principal, "opportunity", rows)
        contracts, signed = [], []
        for opportunity_id, row, customer in zip(ids, rows, deals, strict=True):
            if row["stage"] == "won":
                status = self.values.choice("contract", "status", _WON_CONTRACT)
            elif row["stage"] == "negotiation" and self.values.chance(_DRAFT_CHANCE):
                status = self.values.choice("contract", "status", _NEGOTIATED_CONTRACT)
            else:
                continue
            record = self.values.contract(self._next("contract"), customer.name, self.today)
            record.update(
                customer=customer.id,
                opportunity=opportunity_id,
                amount=row["amount"],
                status=status,
            )
            contracts.append(self._owned(record, branch, customer.owner))
            signed.append(customer)
        contract_ids = self._create(principal, "contract", contracts)
        payments = []
        for contract_id, contract, customer in zip(contract_ids, contracts, signed, strict=True):
            for share in self.values.pick(_COLLECTED.get(contract["status"], ((),))):
                record = self.values.payment(
                    self._next("payment_collection"), contract["amount"], contract["signed_date"]
                )
                if record["received_date"] > self.today:
                    continue
                record.update(
                    contract=contract_id,
                    amount=(contract["amount"] * share).quantize(Decimal("0.01")),
                )
                payments.append(self._owned(record, branch, customer.owner))
        self._create(principal, "payment_collection", payments)

    def _orders(self, principal: Principal, branch: Branch, book: list[_Customer]) -> None:
        rows = []
        for customer in book:
            for _ in range(self.values.pick(_ORDERS_PER_CUSTOMER)):
                record = self.values.order(self._next("order"), self.today)
                record.update(customer=customer.id, product_line=self.values.pick(branch.lines))
                rows.append(self._owned(record, branch, customer.owner))
        self._create(principal, "order", rows)

    def _cases(self, principal: Principal, branch: Branch, book: list[_Customer]) -> None:
        rows = []
        for customer in book:
            if not self.values.chance(_CASE_CHANCE):
                continue
            record = self.values.case()
            record["customer"] = customer.id
            if customer.contacts:
                record["contact"] = self.values.pick(customer.contacts)
            if branch.equipment:
                record["equipment_serial_no"] = f"HC{self.values.integer(10**7, 10**8 - 1)}"
                record["downtime_hours"] = Decimal(self.values.integer(0, 480)) / 10
            by_agent = branch.agents and self.values.chance(_CASE_BY_AGENT_CHANCE)
            owner = self.values.pick(branch.agents) if by_agent else customer.owner
            rows.append(self._owned(record, branch, owner))
        self._create(principal, "case", rows)

    # -- helpers ---------------------------------------------------------------------------------

    def _create(
        self, principal: Principal, entity_key: str, rows: Sequence[Mapping[str, Any]]
    ) -> list[int]:
        # Every row gets every key (None where a record leaves a field empty): bulk_create
        # inserts with one executemany whose columns the first row decides.
        keys = dict.fromkeys(key for row in rows for key in row)
        ids = self.records.bulk_create(
            principal,
            entity_key,
            [dict.fromkeys(keys) | dict(row) | self._lifetime() for row in rows],
        ).ids
        self.counts[entity_key] += len(ids)
        return ids

    def _lifetime(self) -> dict[str, datetime]:
        """When a demo record was made and last changed: over the last two years, so
        lists sorted newest first and the record pages' dates look like a real book."""
        now = datetime.now(UTC)
        age = timedelta(days=self.values.random.uniform(0.5, _HISTORY_DAYS))
        created = now - age
        return {"created_at": created, "updated_at": created + age * self.values.random.random()}

    def _next(self, series: str) -> int:
        self._numbers[series] += 1
        return self._numbers[series]

    @staticmethod
    def _owned(record: dict[str, Any], branch: Branch, owner: int) -> dict[str, Any]:
        record.update(owner_user_id=owner, owning_unit_id=branch.unit_id)
        return record

    @staticmethod
    def _draw(
        draw: Callable[[], dict[str, Any]], accept: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """A record `accept` takes: the demo values' own distribution, conditioned on it."""
        for _ in range(_MAX_DRAWS):
            record = draw()
            if accept(record):
                return record
        raise RuntimeError(f"no acceptable demo record in {_MAX_DRAWS} draws; widen the condition")


def _line_labels() -> dict[str, str]:
    """The Chinese names of the product lines, from the seed customer entity's options."""
    for item in seed_entity_documents()["customer"]["fields"]:
        if item["key"] == "product_lines":
            return {option["key"]: option["label"]["zh-Hans"] for option in item["options"]}
    return {}


def _describe(line: str) -> str:
    names = "、".join(name for _sku, name, _price in PRODUCTS[line])
    return f"主要产品：{names}"
