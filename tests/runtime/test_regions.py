"""The GB/T 2260 region dataset and the lookups the region picker uses."""

from __future__ import annotations

import pytest

from crm_platform.runtime import regions

MUNICIPALITIES = {"110000": 16, "120000": 16, "310000": 16, "500000": 38}
MAJOR_PROVINCES = {
    "130000": 11,  # Hebei
    "320000": 13,  # Jiangsu
    "330000": 11,  # Zhejiang
    "350000": 9,  # Fujian
    "370000": 17,  # Shandong: 16 today, revision 201904 still lists Laiwu (merged 2019)
    "410000": 17,  # Henan
    "420000": 13,  # Hubei, with Enshi prefecture
    "440000": 21,  # Guangdong
    "510000": 21,  # Sichuan
}


def test_every_province_level_unit_is_present() -> None:
    provinces = regions.children(None)
    assert len(provinces) == 34
    assert {item.level for item in provinces} == {regions.PROVINCE}
    assert {"110000", "310000", "440000", "540000", "710000", "810000", "820000"} <= {
        item.code for item in provinces
    }


@pytest.mark.parametrize(("province", "districts"), sorted(MUNICIPALITIES.items()))
def test_municipality_districts_hang_directly_under_the_municipality(
    province: str, districts: int
) -> None:
    below = regions.children(province)
    assert len([item for item in below if item.level == regions.DISTRICT]) >= districts
    assert all(item.parent_code == province for item in below)


def test_beijing_has_its_sixteen_districts() -> None:
    names = {item.name["zh-Hans"] for item in regions.children("110000")}
    assert len(names) == 16
    assert {"东城区", "西城区", "朝阳区", "海淀区", "密云区", "延庆区"} <= names


@pytest.mark.parametrize(("province", "cities"), sorted(MAJOR_PROVINCES.items()))
def test_major_provinces_list_every_prefecture_level_city(province: str, cities: int) -> None:
    below = [item for item in regions.children(province) if item.level == regions.CITY]
    assert len(below) == cities


@pytest.mark.parametrize(
    ("city", "district", "district_name"),
    [
        ("440100", "440106", "天河区"),
        ("440300", "440305", "南山区"),
        ("330100", "330106", "西湖区"),
        ("320100", "320102", "玄武区"),
        ("510100", "510107", "武侯区"),
        ("420100", "420106", "武昌区"),
    ],
)
def test_main_cities_have_their_districts(city: str, district: str, district_name: str) -> None:
    codes = {item.code: item for item in regions.children(city)}
    assert codes[district].name["zh-Hans"] == district_name


def test_path_runs_province_city_district() -> None:
    chain = regions.path("440106")
    assert [item.code for item in chain] == ["440000", "440100", "440106"]
    assert [item.level for item in chain] == ["province", "city", "district"]
    assert [item.name["en"] for item in chain] == ["Guangdong", "Guangzhou", "Tianhe District"]


def test_path_of_a_municipality_district_skips_the_city_level() -> None:
    assert [item.code for item in regions.path("110105")] == ["110000", "110105"]


def test_county_level_unit_under_a_province_has_the_province_as_parent() -> None:
    jiyuan = regions.region("419001")
    assert jiyuan is not None
    assert jiyuan.parent_code == "410000"


def test_unknown_codes_are_not_known_and_have_no_path() -> None:
    assert regions.region("999999") is None
    assert not regions.is_known("110100")  # 市辖区 placeholders are not divisions here
    assert not regions.is_known("abc")
    assert regions.path("999999") == []
    assert regions.children("999999") == []


def test_every_region_has_three_names_and_a_consistent_parent() -> None:
    for item in regions.all_regions():
        assert len(item.code) == 6 and item.code.isdigit()
        assert set(item.name) == {"en", "zh-Hans", "zh-Hant"}
        assert all(item.name.values())
        assert item.level in regions.LEVELS
        if item.parent_code is not None:
            parent = regions.region(item.parent_code)
            assert parent is not None
            assert regions.LEVELS.index(parent.level) < regions.LEVELS.index(item.level)


def test_traditional_names_are_converted() -> None:
    guangzhou = regions.region("440100")
    assert guangzhou is not None
    assert guangzhou.name["zh-Hant"] == "廣州市"
    assert guangzhou.label("zh-Hant") == "廣州市"
    assert guangzhou.label("fr") == "广州市"


def test_source_names_the_dataset() -> None:
    assert "GB/T 2260" in regions.source()["standard"]
