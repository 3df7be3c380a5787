"""The messages of field value validation, in English, Simplified and Traditional Chinese.

Messages are addressed to the person filling in the form: the field is already
named by where the error is shown (errors are keyed by field), so a message says
what is wrong with the value and what to enter instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

LANGUAGES = ("en", "zh-Hans", "zh-Hant")
_TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo"})


def _m(en: str, hans: str, hant: str) -> Mapping[str, str]:
    return MappingProxyType({"en": en, "zh-Hans": hans, "zh-Hant": hant})


MESSAGES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "required": _m(
            "This field is required.",
            "此字段为必填项。",
            "此欄位為必填。",
        ),
        "unknown_field": _m(
            "There is no such field on this record; remove the value.",
            "此记录没有这个字段，请删除该值。",
            "此記錄沒有這個欄位，請刪除該值。",
        ),
        "not_text": _m(
            "Enter text.",
            "请输入文本。",
            "請輸入文字。",
        ),
        "too_long": _m(
            "Enter at most {max_length} characters (this has {length}).",
            "最多输入 {max_length} 个字符（当前 {length} 个）。",
            "最多輸入 {max_length} 個字元（目前 {length} 個）。",
        ),
        "pattern": _m(
            "The value does not have the required format ({pattern}).",
            "格式不符合要求（{pattern}）。",
            "格式不符合要求（{pattern}）。",
        ),
        "not_integer": _m(
            "Enter a whole number, such as 42.",
            "请输入整数，例如 42。",
            "請輸入整數，例如 42。",
        ),
        "not_number": _m(
            "Enter a number, such as 1234.56.",
            "请输入数字，例如 1234.56。",
            "請輸入數字，例如 1234.56。",
        ),
        "too_small": _m(
            "Enter {min} or more.",
            "请输入不小于 {min} 的值。",
            "請輸入不小於 {min} 的值。",
        ),
        "too_large": _m(
            "Enter {max} or less.",
            "请输入不大于 {max} 的值。",
            "請輸入不大於 {max} 的值。",
        ),
        "too_many_places": _m(
            "Use at most {scale} digits after the decimal point.",
            "小数点后最多 {scale} 位。",
            "小數點後最多 {scale} 位。",
        ),
        "out_of_range": _m(
            "The number is too large to store; use at most {digits} digits before the "
            "decimal point.",
            "数字太大，无法保存；小数点前最多 {digits} 位。",
            "數字太大，無法儲存；小數點前最多 {digits} 位。",
        ),
        "not_money": _m(
            "Enter an amount, or an amount with a currency such as "
            '{{"amount": "12.50", "currency": "CNY"}}.',
            '请输入金额，或带币种的金额，例如 {{"amount": "12.50", "currency": "CNY"}}。',
            '請輸入金額，或帶幣別的金額，例如 {{"amount": "12.50", "currency": "CNY"}}。',
        ),
        "not_currency": _m(
            "Enter a three-letter currency code such as CNY, USD or EUR.",
            "请输入三位字母的币种代码，例如 CNY、USD 或 EUR。",
            "請輸入三位字母的幣別代碼，例如 CNY、USD 或 EUR。",
        ),
        "not_boolean": _m(
            "Enter yes or no (true or false).",
            "请选择是或否（true 或 false）。",
            "請選擇是或否（true 或 false）。",
        ),
        "not_date": _m(
            "Enter a date as YYYY-MM-DD, such as 2024-03-31.",
            "请按 YYYY-MM-DD 格式输入日期，例如 2024-03-31。",
            "請按 YYYY-MM-DD 格式輸入日期，例如 2024-03-31。",
        ),
        "not_datetime": _m(
            "Enter a date and time such as 2024-03-31T08:30:00+08:00.",
            "请输入日期时间，例如 2024-03-31T08:30:00+08:00。",
            "請輸入日期時間，例如 2024-03-31T08:30:00+08:00。",
        ),
        "needs_timezone": _m(
            "Add a time zone to the time, such as +08:00 or Z for UTC.",
            "请为时间加上时区，例如 +08:00，或用 Z 表示 UTC。",
            "請為時間加上時區，例如 +08:00，或用 Z 表示 UTC。",
        ),
        "not_option": _m(
            "{value} is not one of the options; choose one of: {options}.",
            "{value} 不是可选项；请从以下选项中选择：{options}。",
            "{value} 不是可選項；請從以下選項中選擇：{options}。",
        ),
        "not_option_list": _m(
            "Choose a list of options from: {options}.",
            "请从以下选项中选择（可多选）：{options}。",
            "請從以下選項中選擇（可多選）：{options}。",
        ),
        "not_id": _m(
            "Choose a record (its id is a positive whole number).",
            "请选择一条记录（其编号为正整数）。",
            "請選擇一筆記錄（其編號為正整數）。",
        ),
        "not_email": _m(
            "Enter an email address such as name@example.com.",
            "请输入电子邮箱地址，例如 name@example.com。",
            "請輸入電子郵件地址，例如 name@example.com。",
        ),
        "not_phone": _m(
            "Enter a mainland China mobile number (11 digits, such as 138 0013 8000) or a "
            "landline with its area code (such as 010-12345678).",
            "请输入中国大陆手机号码（11 位，例如 138 0013 8000）或带区号的固定电话"
            "（例如 010-12345678）。",
            "請輸入中國大陸手機號碼（11 位，例如 138 0013 8000）或帶區號的市話"
            "（例如 010-12345678）。",
        ),
        "not_url": _m(
            "Enter a web address starting with http:// or https://.",
            "请输入以 http:// 或 https:// 开头的网址。",
            "請輸入以 http:// 或 https:// 開頭的網址。",
        ),
        "region_format": _m(
            "Enter a six-digit region code (GB/T 2260), such as 440305.",
            "请输入六位行政区划代码（GB/T 2260），例如 440305。",
            "請輸入六位行政區劃代碼（GB/T 2260），例如 440305。",
        ),
        "region_province": _m(
            "{code} does not start with a province code; the first two digits name the "
            "province (11 Beijing ... 82 Macao).",
            "{code} 的前两位不是省级代码（11 北京 …… 82 澳门）。",
            "{code} 的前兩位不是省級代碼（11 北京 …… 82 澳門）。",
        ),
        "region_unknown": _m(
            "{code} is not a GB/T 2260 region code; choose the region from the list.",
            "{code} 不是有效的行政区划代码，请从列表中选择。",
            "{code} 不是有效的行政區劃代碼，請從列表中選擇。",
        ),
        "uscc_format": _m(
            "Enter the 18-character unified social credit code, such as 91350100M000100Y43.",
            "请输入 18 位统一社会信用代码，例如 91350100M000100Y43。",
            "請輸入 18 位統一社會信用代碼，例如 91350100M000100Y43。",
        ),
        "uscc_check": _m(
            "This unified social credit code has a wrong check character; look for a typo.",
            "统一社会信用代码校验位不正确，请检查是否输错。",
            "統一社會信用代碼檢查碼不正確，請檢查是否輸錯。",
        ),
    }
)


def language(locale: str) -> str:
    """Map a locale spelling (``zh_TW``, ``zh-Hant-HK``, ``zh-CN``, ``en-GB``) to a message key."""
    parts = [part.lower() for part in locale.replace("_", "-").split("-") if part]
    if not parts or parts[0] != "zh":
        return "en"
    if "hant" in parts or any(part in _TRADITIONAL_REGIONS for part in parts[1:]):
        return "zh-Hant"
    return "zh-Hans"


def message(reason: str, locale: str, **params: Any) -> str:
    """The message for `reason` in the reader's language, with `params` filled in."""
    return MESSAGES[reason][language(locale)].format(**params)
