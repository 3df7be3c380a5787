"""Field value validation and normalisation: every type's stored form and every failure message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from crm_platform.runtime.errors import RuntimeFailure
from crm_platform.runtime.phones import normalize_cn_phone
from crm_platform.runtime.uscc import CHARSET, is_valid_uscc, uscc_check_character
from crm_platform.runtime.value_messages import MESSAGES, language
from crm_platform.runtime.values import (
    NORMALIZERS,
    ValueProblem,
    normalize_value,
    validate_values,
)


@dataclass(frozen=True)
class Option:
    key: str


@dataclass(frozen=True)
class Field:
    key: str = "f"
    type: str = "text"
    required: bool = False
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    options: tuple[Option, ...] = ()
    currency: str | None = None
    scale: int | None = None


LEVELS = (Option("gold"), Option("silver"), Option("bronze"))


def field(field_type: str, **attributes) -> Field:
    return Field(type=field_type, **attributes)


# Stored forms ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "raw", "stored"),
    [
        (field("text"), "  Acme  ", "Acme"),
        (field("text"), "Cafe\u0301", "Café"),  # NFC
        (field("text"), 42, "42"),
        (field("long_text"), "line 1\n  line 2  ", "line 1\n  line 2  "),
        (field("text", max_length=4, pattern=r"[A-Z]+"), "ABCD", "ABCD"),
        (field("integer"), 42, 42),
        (field("integer"), "  -7 ", -7),
        (field("integer"), 3.0, 3),
        (field("integer"), "１２", 12),  # full-width digits from a Chinese IME
        (field("integer", min=0, max=10), 10, 10),
        (field("decimal"), "1,234.5", Decimal("1234.5000")),
        (field("decimal", scale=2), 0.1, Decimal("0.10")),
        (field("decimal", scale=0), "12.000", Decimal("12")),
        (field("percent"), "12.5%", Decimal("12.50")),
        (field("money"), "12.5", {"amount": Decimal("12.50"), "currency": "CNY"}),
        (field("money", currency="USD"), 3, {"amount": Decimal("3.00"), "currency": "USD"}),
        (
            field("money"),
            {"amount": "99.9", "currency": "eur"},
            {"amount": Decimal("99.90"), "currency": "EUR"},
        ),
        (
            field("money", scale=4),
            Decimal("1.2345"),
            {"amount": Decimal("1.2345"), "currency": "CNY"},
        ),
        (field("boolean"), True, True),
        (field("boolean"), "false", False),
        (field("boolean"), "1", True),
        (field("boolean"), "0", False),
        (field("boolean"), "on", True),
        (field("boolean"), 0, False),
        (field("boolean"), "是", True),
        (field("date"), "2024-02-29", date(2024, 2, 29)),
        (field("date"), date(2024, 1, 1), date(2024, 1, 1)),
        (
            field("datetime"),
            "2024-03-31T08:30:00+08:00",
            datetime(2024, 3, 31, 0, 30, tzinfo=UTC),
        ),
        (field("datetime"), "2024-03-31T08:30:00Z", datetime(2024, 3, 31, 8, 30, tzinfo=UTC)),
        (
            field("datetime"),
            datetime(2024, 3, 31, 8, 30, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2024, 3, 31, 13, 30, tzinfo=UTC),
        ),
        (field("choice", options=LEVELS), "silver", "silver"),
        (field("multi_choice", options=LEVELS), ["gold", "bronze", "gold"], ["gold", "bronze"]),
        (field("reference"), 15, 15),
        (field("user"), "15", 15),
        (field("org_unit"), 3, 3),
        (field("email"), " Li.Lei+crm@Example.COM ", "Li.Lei+crm@example.com"),
        (field("email"), "wang@例子.中国", "wang@xn--fsqu00a.xn--fiqs8s"),
        (field("phone"), "13800138000", "+8613800138000"),
        (field("phone"), "138-0013-8000", "+8613800138000"),
        (field("phone"), "+86 138 0013 8000", "+8613800138000"),
        (field("phone"), "0086 138 0013 8000", "+8613800138000"),
        (field("phone"), 13800138000, "+8613800138000"),
        (field("phone"), "010-12345678", "+861012345678"),
        (field("phone"), "0571-8765432", "+865718765432"),
        (field("url"), "HTTPS://Example.COM/Path?q=1", "https://example.com/Path?q=1"),
        (field("url"), "http://10.0.0.1:8080/", "http://10.0.0.1:8080/"),
        (field("region"), "440305", "440305"),
        (field("region"), " 110101 ", "110101"),
        (field("uscc"), "91350100m000100y43", "91350100M000100Y43"),
        (field("uscc"), "9144 0300 7084 6113 6T", "91440300708461136T"),
    ],
)
def test_value_is_stored_in_its_canonical_form(definition, raw, stored):
    assert normalize_value(definition, raw) == stored


@pytest.mark.parametrize("raw", [None, "", "   ", [], {"amount": None, "currency": "CNY"}])
def test_empty_values_are_stored_as_none(raw):
    assert normalize_value(field("money"), raw) is None


def test_every_field_type_has_a_normalizer():
    from crm_platform.metadata.conditions import FIELD_TYPES

    assert set(NORMALIZERS) == set(FIELD_TYPES)


# Failure messages: each rule, in English and Chinese -------------------------------------------

FAILURES = [
    # (field, raw value, reason, English fragment, Simplified fragment, Traditional fragment)
    (field("text"), 1.5, "not_text", "Enter text", "请输入文本", "請輸入文字"),
    (
        field("text", max_length=3),
        "Acme",
        "too_long",
        "at most 3 characters (this has 4)",
        "最多输入 3 个字符（当前 4 个）",
        "最多輸入 3 個字元",
    ),
    (
        field("long_text", max_length=2),
        "abc",
        "too_long",
        "at most 2 characters",
        "最多输入 2 个字符",
        "最多輸入 2 個字元",
    ),
    (
        field("text", pattern=r"[A-Z]{2}\d+"),
        "ab12",
        "pattern",
        "format ([A-Z]{2}\\d+)",
        "格式不符合要求",
        "格式不符合要求",
    ),
    (field("integer"), "12.5", "not_integer", "whole number", "请输入整数", "請輸入整數"),
    (field("integer"), True, "not_integer", "whole number", "请输入整数", "請輸入整數"),
    (field("integer"), 10**19, "out_of_range", "too large to store", "数字太大", "數字太大"),
    (field("integer", min=1), 0, "too_small", "Enter 1 or more", "不小于 1", "不小於 1"),
    (field("integer", max=100), 101, "too_large", "Enter 100 or less", "不大于 100", "不大於 100"),
    (field("decimal"), "abc", "not_number", "Enter a number", "请输入数字", "請輸入數字"),
    (field("decimal"), "NaN", "not_number", "Enter a number", "请输入数字", "請輸入數字"),
    (
        field("decimal", min=0.5),
        "0.4",
        "too_small",
        "Enter 0.5 or more",
        "不小于 0.5",
        "不小於 0.5",
    ),
    (
        field("decimal", scale=2),
        "1.234",
        "too_many_places",
        "at most 2 digits after",
        "小数点后最多 2 位",
        "小數點後最多 2 位",
    ),
    (
        field("decimal", scale=2),
        "1" * 17,
        "out_of_range",
        "at most 16 digits before",
        "小数点前最多 16 位",
        "小數點前最多 16 位",
    ),
    (
        field("percent", max=100),
        "120%",
        "too_large",
        "Enter 100 or less",
        "不大于 100",
        "不大於 100",
    ),
    (
        field("money"),
        "12.345",
        "too_many_places",
        "at most 2 digits after",
        "小数点后最多 2 位",
        "小數點後最多 2 位",
    ),
    (
        field("money"),
        {"amount": "1", "currency": "RMB1"},
        "not_currency",
        "three-letter currency",
        "三位字母的币种代码",
        "三位字母的幣別代碼",
    ),
    (field("money"), {"value": "1"}, "not_money", "Enter an amount", "请输入金额", "請輸入金額"),
    (field("money", min=0), "-1", "too_small", "Enter 0 or more", "不小于 0", "不小於 0"),
    (field("boolean"), "maybe", "not_boolean", "yes or no", "请选择是或否", "請選擇是或否"),
    (field("boolean"), 2, "not_boolean", "yes or no", "请选择是或否", "請選擇是或否"),
    (field("date"), "31/03/2024", "not_date", "YYYY-MM-DD", "YYYY-MM-DD 格式", "YYYY-MM-DD 格式"),
    (field("date"), "2023-02-29", "not_date", "YYYY-MM-DD", "YYYY-MM-DD 格式", "YYYY-MM-DD 格式"),
    (field("date"), datetime(2024, 1, 1, tzinfo=UTC), "not_date", "YYYY-MM-DD", "请按", "請按"),
    (
        field("datetime"),
        "yesterday",
        "not_datetime",
        "date and time",
        "请输入日期时间",
        "請輸入日期時間",
    ),
    (field("datetime"), "2024-03-31T08:30:00", "needs_timezone", "time zone", "时区", "時區"),
    (
        field("datetime"),
        datetime(2024, 3, 31, 8, 30),  # noqa: DTZ001 - naive on purpose
        "needs_timezone",
        "time zone",
        "时区",
        "時區",
    ),  # noqa: DTZ001
    (
        field("choice", options=LEVELS),
        "platinum",
        "not_option",
        "'platinum' is not one of the options; choose one of: gold, silver, bronze",
        "不是可选项",
        "不是可選項",
    ),
    (
        field("multi_choice", options=LEVELS),
        "gold",
        "not_option_list",
        "list of options from: gold, silver, bronze",
        "可多选",
        "可多選",
    ),
    (
        field("multi_choice", options=LEVELS),
        ["gold", "tin"],
        "not_option",
        "'tin' is not one of the options",
        "不是可选项",
        "不是可選項",
    ),
    (field("reference"), 0, "not_id", "positive whole number", "正整数", "正整數"),
    (field("user"), "abc", "not_id", "positive whole number", "正整数", "正整數"),
    (field("org_unit"), True, "not_id", "positive whole number", "正整数", "正整數"),
    (field("email"), "li.lei@", "not_email", "name@example.com", "电子邮箱地址", "電子郵件地址"),
    (
        field("email"),
        "li..lei@example.com",
        "not_email",
        "name@example.com",
        "电子邮箱地址",
        "電子郵件地址",
    ),
    (
        field("email"),
        "li lei@example.com",
        "not_email",
        "name@example.com",
        "电子邮箱地址",
        "電子郵件地址",
    ),
    (
        field("email"),
        "li@localhost",
        "not_email",
        "name@example.com",
        "电子邮箱地址",
        "電子郵件地址",
    ),
    (
        field("email", max_length=10),
        "li.lei@example.com",
        "too_long",
        "at most 10 characters",
        "最多输入 10 个字符",
        "最多輸入 10 個字元",
    ),
    (
        field("phone"),
        "12345",
        "not_phone",
        "mainland China mobile number",
        "中国大陆手机号码",
        "中國大陸手機號碼",
    ),
    (
        field("phone"),
        "12800138000",
        "not_phone",
        "mainland China mobile number",
        "中国大陆手机号码",
        "中國大陸手機號碼",
    ),
    (
        field("phone"),
        "+852 9123 4567",
        "not_phone",
        "mainland China mobile number",
        "中国大陆手机号码",
        "中國大陸手機號碼",
    ),
    (
        field("phone"),
        "400-800-1234",
        "not_phone",
        "landline with its area code",
        "带区号的固定电话",
        "帶區號的市話",
    ),
    (
        field("phone"),
        "call me",
        "not_phone",
        "mainland China mobile number",
        "中国大陆手机号码",
        "中國大陸手機號碼",
    ),
    (
        field("url"),
        "ftp://example.com/file",
        "not_url",
        "http:// or https://",
        "以 http:// 或 https:// 开头",
        "以 http:// 或 https:// 開頭",
    ),
    (field("url"), "example.com", "not_url", "http:// or https://", "网址", "網址"),
    (field("url"), "https://exa mple.com", "not_url", "http:// or https://", "网址", "網址"),
    (field("url"), "javascript:alert(1)", "not_url", "http:// or https://", "网址", "網址"),
    (
        field("region"),
        "44030",
        "region_format",
        "six-digit region code",
        "六位行政区划代码",
        "六位行政區劃代碼",
    ),
    (
        field("region"),
        "990000",
        "region_province",
        "990000 does not start with a province code",
        "990000 的前两位不是省级代码",
        "990000 的前兩位不是省級代碼",
    ),
    (
        field("region"),
        "440399",
        "region_unknown",
        "440399 is not a GB/T 2260 region code",
        "440399 不是有效的行政区划代码",
        "440399 不是有效的行政區劃代碼",
    ),
    (
        field("uscc"),
        "91350100M000100Y4",
        "uscc_format",
        "18-character unified social credit code",
        "18 位统一社会信用代码",
        "18 位統一社會信用代碼",
    ),
    (field("uscc"), "91350100I000100Y43", "uscc_format", "18-character", "18 位", "18 位"),
    (
        field("uscc"),
        "91350100M000100Y44",
        "uscc_check",
        "wrong check character",
        "校验位不正确",
        "檢查碼不正確",
    ),
]


@pytest.mark.parametrize(("definition", "raw", "reason", "en", "hans", "hant"), FAILURES)
def test_invalid_value_is_refused_with_a_localized_message(definition, raw, reason, en, hans, hant):
    for locale, fragment in (("en", en), ("zh-Hans", hans), ("zh-Hant", hant)):
        with pytest.raises(ValueProblem) as caught:
            normalize_value(definition, raw, locale)
        assert caught.value.reason == reason
        assert fragment in caught.value.message, (locale, caught.value.message)


def test_every_message_has_a_failure_test_and_all_three_languages():
    tested = {reason for _f, _r, reason, *_ in FAILURES} | {"required", "unknown_field"}
    assert tested == set(MESSAGES)
    for texts in MESSAGES.values():
        assert set(texts) == {"en", "zh-Hans", "zh-Hant"}


def test_value_problem_is_a_runtime_failure():
    with pytest.raises(RuntimeFailure):
        normalize_value(field("integer"), "x")


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en", "en"), ("en-GB", "en"), ("zh-CN", "zh-Hans"), ("zh_Hans", "zh-Hans"),
     ("zh-TW", "zh-Hant"), ("zh-Hant-HK", "zh-Hant"), ("fr", "en"), ("", "en")],
)  # fmt: skip
def test_locale_picks_the_message_language(locale, expected):
    assert language(locale) == expected


# Whole records ---------------------------------------------------------------------------------

CUSTOMER = (
    Field("name", "text", required=True, max_length=20),
    Field("level", "choice", options=LEVELS),
    Field("phone", "phone"),
    Field("uscc", "uscc", required=True),
)


def test_validate_values_reports_every_problem_at_once_in_the_locale():
    values, errors = validate_values(
        CUSTOMER,
        {"name": "  ", "level": "tin", "phone": "138-0013-8000", "tier": 3},
        "zh-Hans",
        partial=False,
    )
    assert values == {"phone": "+8613800138000"}
    assert errors == {
        "tier": ["此记录没有这个字段，请删除该值。"],
        "name": ["此字段为必填项。"],
        "level": ["'tin' 不是可选项；请从以下选项中选择：gold, silver, bronze。"],
        "uscc": ["此字段为必填项。"],
    }


def test_validate_values_in_english_names_the_fix():
    _values, errors = validate_values(CUSTOMER, {"name": "x" * 21}, "en", partial=True)
    assert errors == {"name": ["Enter at most 20 characters (this has 21)."]}


def test_partial_update_skips_missing_required_fields_but_not_emptied_ones():
    values, errors = validate_values(CUSTOMER, {"level": "gold", "uscc": ""}, "en", partial=True)
    assert values == {"level": "gold"}
    assert errors == {"uscc": ["This field is required."]}


def test_valid_record_normalizes_every_value():
    values, errors = validate_values(
        CUSTOMER,
        {"name": " Acme ", "level": None, "uscc": "91350100m000100y43"},
        "en",
        partial=False,
    )
    assert errors == {}
    assert values == {"name": "Acme", "level": None, "uscc": "91350100M000100Y43"}


# The unified social credit code ----------------------------------------------------------------


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91440300708461136T", "911100007109288314"])
def test_published_codes_are_valid(code):
    assert is_valid_uscc(code)
    assert uscc_check_character(code[:17]) == code[17]


def test_check_character_detects_any_single_substitution():
    code = "91350100M000100Y43"
    for position in range(18):
        for replacement in CHARSET:
            if replacement != code[position]:
                altered = code[:position] + replacement + code[position + 1 :]
                assert not is_valid_uscc(altered), altered


def test_check_character_of_zero_remainder_is_zero():
    # 31 - (sum mod 31) is 31 when the sum is a multiple of 31; the character is then "0".
    body = "00000000000000000"
    assert uscc_check_character(body) == "0"


def test_check_character_refuses_a_wrong_body():
    with pytest.raises(ValueError, match="17 characters"):
        uscc_check_character("91350100M000100")
    with pytest.raises(ValueError, match="17 characters"):
        uscc_check_character("91350100O000100Y4")


# Phone numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("13800138000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),
        ("(010) 8888 6666", "+861088886666"),
        ("+86 10 1234 5678", "+861012345678"),
        ("+86 010 12345678", "+861012345678"),
        ("0755 1234 5678", "+8675512345678"),
        ("1012345678", None),  # a landline needs its trunk zero or country code
        ("4008001234", None),
        ("+86 400 800 1234", None),
        ("010-1234567", None),
        ("138001380001", None),
    ],
)
def test_phone_spellings(raw, stored):
    assert normalize_cn_phone(raw) == stored
