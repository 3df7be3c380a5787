"""Deterministic, realistic values for the demo tenant, and its table of demo users.

`DemoValues(seed)` yields Chinese company and person names, valid unified social
credit codes, mainland mobile numbers (E.164), GB/T 2260 district codes, amounts,
dates and choice keys read from the seed bundle's entity definitions. The same seed
gives the same values on every machine, so demo data and the tests built on it are
reproducible. Nothing here touches a database: the demo-data job feeds these values
to the record service.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from faker import Faker

from crm_platform.runtime import regions
from crm_platform.runtime.values import uscc_check_character

SEED_BUNDLE = Path(__file__).resolve().parents[2] / "seed_configs" / "multi_org_crm"
"""The seed configuration bundle whose entities the choice values come from."""

DEMO_PASSWORD = "huachen-demo"  # noqa: S105 - the documented shared password of demo users only
"""The one password every demo user signs in with; printed by `make run`. Demo only."""

DEMO_EMAIL_DOMAIN = "huachen.example"

# Provinces the demo customers come from: the group's sales regions.
DEMO_PROVINCES = (
    "110000",  # Beijing
    "120000",  # Tianjin
    "130000",  # Hebei
    "310000",  # Shanghai
    "320000",  # Jiangsu
    "330000",  # Zhejiang
    "350000",  # Fujian
    "370000",  # Shandong
    "410000",  # Henan
    "420000",  # Hubei
    "440000",  # Guangdong
    "500000",  # Chongqing
    "510000",  # Sichuan
)

# Mobile number segments assigned to the three mainland carriers (MIIT numbering plan).
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    "147", "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "166", "173", "175", "176", "177", "178",
    "180", "181", "182", "183", "184", "185", "186", "187", "188", "189",
    "191", "198", "199",
)  # fmt: skip

_BRAND_WORDS = (
    "华泰", "鑫源", "宏达", "恒通", "中联", "天成", "瑞丰", "博远", "永盛", "金鼎",
    "同创", "汇丰", "润和", "嘉禾", "远航", "立信", "昌隆", "盛世", "新兴", "恒泰",
    "东方", "长城", "振华", "兴业", "广源", "德润", "宏图", "万达", "正泰", "凯达",
    "力拓", "安泰", "联合", "海川", "鼎盛", "中科", "华宇", "宝信", "荣盛", "国泰",
)  # fmt: skip

# What a company of each industry calls itself, keyed by the seed's industry option keys.
_INDUSTRY_WORDS: Mapping[str, tuple[str, ...]] = {
    "manufacturing": ("机械制造", "重工", "装备制造", "精密机械"),
    "construction": ("建设工程", "建工", "路桥工程", "市政工程"),
    "mining": ("矿业", "矿山机械", "采矿"),
    "energy": ("能源", "电力工程", "新能源"),
    "transportation": ("物流", "运输", "港务", "供应链"),
    "chemicals": ("化工", "新材料"),
    "automotive": ("汽车零部件", "汽车工业"),
    "electronics": ("电子科技", "智能装备", "自动化"),
    "agriculture": ("农业发展", "农机"),
    "real_estate": ("置业", "地产开发"),
    "wholesale_retail": ("商贸", "工贸", "五金机电"),
    "public_sector": ("城市建设投资", "公用事业"),
    "other": ("实业", "科技"),
}
_LEGAL_FORMS = ("有限公司", "有限公司", "有限公司", "股份有限公司", "集团有限公司")

_CUSTOMER_TYPE_WEIGHTS: Mapping[str, float] = {"enterprise": 10, "state_owned": 4, "other": 0.5}
_LEVEL_WEIGHTS: Mapping[str, float] = {"a": 1, "b": 3, "c": 5, "d": 3}
_METHOD_WEIGHTS: Mapping[str, float] = {"bank_transfer": 6, "acceptance_bill": 3, "cash": 0.2}
_PRIORITY_WEIGHTS: Mapping[str, float] = {"low": 2, "medium": 5, "high": 2, "urgent": 1}
_JOB_TITLES = ("总经理", "副总经理", "采购经理", "设备部经理", "技术总监", "财务经理", "项目经理",
               "采购专员", "生产厂长", "董事长助理")  # fmt: skip
_LINE_DEALS: Mapping[str, str] = {
    "heavy_equipment": "重型设备采购项目",
    "precision_equipment": "精密加工设备项目",
    "maintenance_services": "年度维保服务项目",
    "equipment_leasing": "设备融资租赁项目",
    "industrial_trading": "工业品集中采购项目",
}
_STAGE_PROBABILITY: Mapping[str, int] = {
    "prospecting": 10, "needs_analysis": 25, "proposal": 50, "negotiation": 75, "won": 100,
    "lost": 0,
}  # fmt: skip
_CASE_SUBJECTS: Mapping[str, tuple[str, ...]] = {
    "complaint": ("交货延迟投诉", "售后响应太慢", "发票开具有误", "设备噪音超标投诉"),
    "inquiry": ("咨询设备保养周期", "咨询租赁方案", "询问配件价格", "咨询延保政策"),
    "repair": ("液压系统漏油", "主轴异响", "控制柜报警", "发动机无法启动"),
    "maintenance": ("季度例行保养", "年度全面检修", "更换易损件"),
    "return": ("配件型号发错申请退换", "到货破损申请换货"),
    "other": ("资料索取", "培训需求"),
}
_RESOLUTIONS = (
    "已派工程师现场处理完毕",
    "已更换故障部件，设备恢复运行",
    "已电话回复客户，客户满意",
    "已补发正确配件",
    "已重新开具发票",
)

# GB 32100: the first character is the registration authority, the second the kind of
# entity; 9 = market regulation (1 company, 2 individual business, 3 cooperative).
_REGISTRATION = (("9", "1"), ("9", "1"), ("9", "1"), ("9", "2"), ("9", "3"), ("1", "1"))
_ORG_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_code_check(body: str) -> str:
    """The ninth character of a GB 11714 organisation code from its first eight."""
    total = sum(
        int(char, 36) * weight for char, weight in zip(body, _ORG_CODE_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


@cache
def seed_entity_documents(bundle: Path = SEED_BUNDLE) -> Mapping[str, Mapping[str, Any]]:
    """The HQ entity documents of a bundle, by entity key (read once)."""
    directory = bundle / "layers" / "hq" / "entity"
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.json"))
    }


def seed_choice_keys(entity: str, field: str, bundle: Path = SEED_BUNDLE) -> tuple[str, ...]:
    """The option keys of a choice or multi_choice field of a seed entity, in order."""
    document = seed_entity_documents(bundle)[entity]
    for item in document["fields"]:
        if item["key"] == field:
            return tuple(option["key"] for option in item.get("options", ()))
    raise KeyError(f"seed entity {entity!r} has no field {field!r}")


def _place_word(names: Sequence[str]) -> str:
    """How a company names its home town: the nearest city, without 市 (苏州, not 苏州市)."""
    for name in names:
        if name.endswith("市") and len(name) > 2:
            return name.removesuffix("市")
    return names[0].removesuffix("县").removesuffix("区")


@cache
def _demo_districts() -> tuple[str, ...]:
    return tuple(
        item.code
        for item in regions.all_regions(regions.DISTRICT)
        if item.code[:2] + "0000" in DEMO_PROVINCES
    )


class DemoValues:
    """A reproducible source of demo values: the same seed always yields the same sequence."""

    def __init__(self, seed: int = 2026, bundle: Path = SEED_BUNDLE) -> None:
        self.random = random.Random(seed)  # noqa: S311 - demo data, not secrets
        self.faker = Faker("zh_CN")
        self.faker.seed_instance(seed)
        self.bundle = bundle

    # --- names ---------------------------------------------------------------------------

    def person_name(self) -> str:
        """A Chinese personal name such as 王丽娟."""
        return str(self.faker.name())

    def company_name(self, region_code: str | None = None, industry: str | None = None) -> str:
        """A company name in the mainland style: city, brand, line of business, legal form."""
        chain = regions.path(region_code or self.region_code())
        city = _place_word([item.name["zh-Hans"] for item in reversed(chain)])
        trade = self.random.choice(_INDUSTRY_WORDS.get(industry or "", _INDUSTRY_WORDS["other"]))
        brand = self.random.choice(_BRAND_WORDS)
        return f"{city}{brand}{trade}{self.random.choice(_LEGAL_FORMS)}"

    # --- identifiers ---------------------------------------------------------------------

    def uscc(self, region_code: str | None = None) -> str:
        """A unified social credit code that passes both GB 11714 and GB 32100 check digits."""
        authority, kind = self.random.choice(_REGISTRATION)
        code = region_code or self.region_code()
        body = "".join(self.random.choice(_ORG_CODE_CHARS[:10]) for _ in range(8))
        first17 = f"{authority}{kind}{code}{body}{_org_code_check(body)}"
        return first17 + uscc_check_character(first17)

    def mobile(self) -> str:
        """A mainland mobile number in E.164, such as +8613812345678."""
        prefix = self.random.choice(MOBILE_PREFIXES)
        return f"+86{prefix}{self.random.randrange(10**8):08d}"

    def landline(self) -> str:
        """A switchboard number written the way Chinese companies print it, e.g. 021-62345678."""
        area = self.random.choice(("010", "021", "022", "023", "020", "0755", "0571", "025"))
        return f"{area}-{self.random.randrange(2 * 10**7, 9 * 10**7)}"

    def email(self, domain: str | None = None) -> str:
        """A plausible business email address."""
        local = f"{self.faker.first_romanized_name()}.{self.faker.last_romanized_name()}".lower()
        return f"{local}{self.random.randrange(100)}@{domain or self.faker.free_email_domain()}"

    def region_code(self) -> str:
        """A GB/T 2260 county-level code from one of the group's sales provinces."""
        return self.random.choice(_demo_districts())

    def address(self) -> str:
        """A street address; the region is a separate field, so none is repeated here."""
        return f"{self.faker.street_name()}{self.random.randrange(1, 999)}号"

    # --- choices, numbers, dates ---------------------------------------------------------

    def choice(self, entity: str, field: str, weights: Mapping[str, float] | None = None) -> str:
        """One option key of a seed choice field; `weights` by option key, 1 for the others."""
        keys = seed_choice_keys(entity, field, self.bundle)
        if not weights:
            return self.random.choice(keys)
        return self.random.choices(keys, weights=[weights.get(key, 1.0) for key in keys])[0]

    def choices(self, entity: str, field: str, low: int = 1, high: int = 2) -> list[str]:
        """Between `low` and `high` distinct option keys of a seed multi_choice field."""
        keys = seed_choice_keys(entity, field, self.bundle)
        picked = set(self.random.sample(keys, self.random.randint(low, min(high, len(keys)))))
        return [key for key in keys if key in picked]

    def amount(self, low: int, high: int, step: int = 1000) -> Decimal:
        """A money amount between `low` and `high` yuan, rounded to `step` like real quotes."""
        return Decimal(self.random.randrange(low // step, high // step + 1) * step).quantize(
            Decimal("0.01")
        )

    def integer(self, low: int, high: int) -> int:
        """A whole number between `low` and `high` inclusive."""
        return self.random.randint(low, high)

    def day(self, start: date, end: date) -> date:
        """A date between `start` and `end` inclusive."""
        return start + timedelta(days=self.random.randrange((end - start).days + 1))

    def pick(self, items: Sequence[Any]) -> Any:
        """One of `items` (such as a unit key or an owner)."""
        return self.random.choice(items)

    def chance(self, probability: float) -> bool:
        """True with the given probability."""
        return self.random.random() < probability

    # --- whole records (field key -> value, references left to the caller) -----------------

    def customer(self) -> dict[str, Any]:
        """The fields of a seed customer: one company, coherent region, name and USCC."""
        region_code = self.region_code()
        industry = self.choice("customer", "industry")
        return {
            "name": self.company_name(region_code, industry),
            "uscc": self.uscc(region_code),
            "customer_type": self.choice("customer", "customer_type", _CUSTOMER_TYPE_WEIGHTS),
            "industry": industry,
            "customer_level": self.choice("customer", "customer_level", _LEVEL_WEIGHTS),
            "product_lines": self.choices("customer", "product_lines"),
            "region": region_code,
            "address": self.address(),
            "phone": self.landline(),
            "annual_revenue": self.amount(1_000_000, 2_000_000_000, step=100_000),
            "employee_count": self.integer(20, 20_000),
            "source": self.choice("customer", "source"),
        }

    def contact(self) -> dict[str, Any]:
        """The fields of a contact person (the caller sets ``customer``)."""
        return {
            "name": self.person_name(),
            "title": self.pick(_JOB_TITLES),
            "mobile": self.mobile(),
            "email": self.email(),
            "is_primary": self.chance(0.3),
        }

    def lead(self) -> dict[str, Any]:
        """The fields of a sales lead."""
        region_code = self.region_code()
        return {
            "company_name": self.company_name(region_code),
            "contact_name": self.person_name(),
            "mobile": self.mobile(),
            "region": region_code,
            "product_line": self.choice("lead", "product_line"),
            "source": self.choice("lead", "source"),
            "status": self.choice("lead", "status"),
        }

    def opportunity(self, customer_name: str, today: date) -> dict[str, Any]:
        """The fields of an opportunity for a customer (the caller sets ``customer``)."""
        line = self.choice("opportunity", "product_line")
        stage = self.choice("opportunity", "stage")
        return {
            "name": f"{customer_name}{_LINE_DEALS.get(line, '采购项目')}",
            "product_line": line,
            "stage": stage,
            "amount": self.amount(50_000, 8_000_000, step=10_000),
            "expected_close_date": self.day(
                today - timedelta(days=90), today + timedelta(days=270)
            ),
            "probability": Decimal(_STAGE_PROBABILITY.get(stage, 20)),
        }

    def order(self, number: int, today: date) -> dict[str, Any]:
        """The fields of an order; `number` makes the order number unique."""
        ordered = self.day(today - timedelta(days=720), today)
        return {
            "order_no": f"SO{ordered:%Y%m}{number:06d}",
            "order_date": ordered,
            "product_line": self.choice("order", "product_line"),
            "total_amount": self.amount(5_000, 3_000_000),
            "status": self.choice("order", "status"),
        }

    def contract(self, number: int, customer_name: str, today: date) -> dict[str, Any]:
        """The fields of a contract; `number` makes the contract number unique."""
        signed = self.day(today - timedelta(days=720), today)
        return {
            "contract_no": f"HC-{signed:%Y}-{number:06d}",
            "name": f"{customer_name}设备采购合同",
            "amount": self.amount(100_000, 20_000_000, step=10_000),
            "signed_date": signed,
            "start_date": signed + timedelta(days=15),
            "end_date": signed + timedelta(days=15 + 365 * self.integer(1, 3)),
            "status": self.choice("contract", "status"),
        }

    def payment(self, number: int, contract_amount: Decimal, signed: date) -> dict[str, Any]:
        """The fields of one payment collected on a contract (30% advance, the rest later)."""
        share = self.pick((Decimal("0.3"), Decimal("0.6"), Decimal("0.1")))
        return {
            "collection_no": f"RC{signed:%Y%m}{number:06d}",
            "amount": (contract_amount * share).quantize(Decimal("0.01")),
            "received_date": signed + timedelta(days=self.integer(3, 180)),
            "method": self.choice("payment_collection", "method", _METHOD_WEIGHTS),
        }

    def case(self) -> dict[str, Any]:
        """The fields of a service case (the caller sets ``customer`` and ``contact``)."""
        category = self.choice("case", "category")
        status = self.choice("case", "status")
        record: dict[str, Any] = {
            "subject": self.pick(_CASE_SUBJECTS[category]),
            "category": category,
            "priority": self.choice("case", "priority", _PRIORITY_WEIGHTS),
            "status": status,
            "description": self.pick(_CASE_SUBJECTS[category]) + "，请尽快安排处理。",
        }
        if status in ("resolved", "closed"):
            record["resolution"] = self.pick(_RESOLUTIONS)
        return record


@dataclass(frozen=True)
class DemoUser:
    """A demo sign-in: who, which seed role at which seed unit, and the language they use."""

    email: str
    display_name: str
    role: str
    unit: str
    locale: str = "zh-Hans"


def _user(local: str, name: str, role: str, unit: str, locale: str = "zh-Hans") -> DemoUser:
    return DemoUser(f"{local}@{DEMO_EMAIL_DOMAIN}", name, role, unit, locale)


DEMO_USERS: tuple[DemoUser, ...] = (
    # the group
    _user("admin", "王建国", "group_admin", "group_hq"),
    _user("finance", "陈淑芬", "finance", "group_hq"),
    _user("analyst", "林晓雯", "analyst", "group_hq", "en"),
    # business unit heads
    _user("head.equipment", "李志强", "bu_head", "bu_equipment"),
    _user("head.services", "赵敏", "bu_head", "bu_services"),
    _user("head.trading", "周国华", "bu_head", "bu_trading"),
    _user("analyst.equipment", "孙文博", "analyst", "bu_equipment"),
    _user("finance.trading", "郑秀兰", "finance", "bu_trading"),
    # subsidiary managers
    _user("manager.heavy", "刘德明", "subsidiary_manager", "sub_heavy_machinery"),
    _user("manager.precision", "黄丽华", "subsidiary_manager", "sub_precision"),
    _user("manager.service", "吴海涛", "subsidiary_manager", "sub_service"),
    _user("manager.leasing", "何静", "subsidiary_manager", "sub_leasing", "zh-Hant"),
    _user("manager.wholesale", "马俊杰", "subsidiary_manager", "sub_trading_wholesale"),
    _user("manager.retail", "高雅琴", "subsidiary_manager", "sub_trading_retail"),
    _user("finance.heavy", "罗红梅", "finance", "sub_heavy_machinery"),
    # branch sales reps, two per branch
    _user("rep1.east.heavy", "张伟", "branch_sales_rep", "br_heavy_east"),
    _user("rep2.east.heavy", "徐丽", "branch_sales_rep", "br_heavy_east"),
    _user("rep1.south.heavy", "梁家豪", "branch_sales_rep", "br_heavy_south", "zh-Hant"),
    _user("rep2.south.heavy", "邓小燕", "branch_sales_rep", "br_heavy_south"),
    _user("rep1.north.heavy", "杨磊", "branch_sales_rep", "br_heavy_north"),
    _user("rep2.north.heavy", "冯雪", "branch_sales_rep", "br_heavy_north"),
    _user("rep1.east.precision", "朱浩", "branch_sales_rep", "br_precision_east"),
    _user("rep2.east.precision", "沈佳怡", "branch_sales_rep", "br_precision_east", "en"),
    _user("rep1.south.precision", "曾志伟", "branch_sales_rep", "br_precision_south"),
    _user("rep2.south.precision", "彭美玲", "branch_sales_rep", "br_precision_south"),
    _user("rep1.east.service", "蒋涛", "branch_sales_rep", "br_service_east"),
    _user("rep2.east.service", "韩梅", "branch_sales_rep", "br_service_east"),
    _user("rep1.north.service", "曹刚", "branch_sales_rep", "br_service_north"),
    _user("rep2.north.service", "董洁", "branch_sales_rep", "br_service_north"),
    _user("rep1.east.leasing", "袁博", "branch_sales_rep", "br_leasing_east"),
    _user("rep2.east.leasing", "许晴", "branch_sales_rep", "br_leasing_east"),
    _user("rep1.east.wholesale", "钱峰", "branch_sales_rep", "br_wholesale_east"),
    _user("rep2.east.wholesale", "戴琳", "branch_sales_rep", "br_wholesale_east"),
    _user("rep1.south.wholesale", "谢永健", "branch_sales_rep", "br_wholesale_south"),
    _user("rep2.south.wholesale", "叶婷", "branch_sales_rep", "br_wholesale_south"),
    _user("rep1.east.retail", "潘宇", "branch_sales_rep", "br_retail_east"),
    _user("rep2.east.retail", "杜娟", "branch_sales_rep", "br_retail_east"),
    _user("rep1.south.retail", "陆俊", "branch_sales_rep", "br_retail_south"),
    _user("rep2.south.retail", "蔡慧敏", "branch_sales_rep", "br_retail_south"),
    # service agents
    _user("agent.east.service", "魏强", "service_agent", "br_service_east"),
    _user("agent.north.service", "程芳", "service_agent", "br_service_north"),
    _user("agent.east.heavy", "任建军", "service_agent", "br_heavy_east"),
    _user("agent.east.retail", "姜小龙", "service_agent", "br_retail_east"),
)
"""Demo users for every seed role at every level; all sign in with `DEMO_PASSWORD`."""
