"""Tower CSV parsing: OpenCelliD columns, site columns, defaults and every kind of bad input."""

from __future__ import annotations

import pytest

from lomsong.coverage.errors import InvalidInputError
from lomsong.geodata.towers import RAT_DEFAULTS, parse_towers

OCID = "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal\n"
BOUNDS = (500000.0, 2350000.0, 620000.0, 2450000.0)  # covers 105-106.1 E, 21.3-22.1 N roughly


def test_opencellid_rows_map_mnc_to_carrier():
    text = OCID + ("LTE,452,4,1001,12345,0,105.85,21.6,1000,5,1,0,0,0\n"
                   "UMTS,452,2,2001,555,0,105.80,21.55,2000,3,1,0,0,0\n"
                   "GSM,452,1,3001,7,0,105.70,21.50,3000,3,1,0,0,0\n"
                   "NR,452,5,4001,9,0,105.75,21.45,500,1,1,0,0,0\n")
    ts = parse_towers(text, "ocid.csv", crs="EPSG:32648", bounds=BOUNDS)
    assert [t.carrier for t in ts] == ["Viettel", "VinaPhone", "MobiFone", "Vietnamobile"]
    assert [t.rat for t in ts] == ["4G", "3G", "2G", "5G"]
    t = ts[0]
    assert t.frequency_mhz == RAT_DEFAULTS["4G"].frequency_mhz
    assert t.azimuth_deg is None and "height_m" in t.defaulted and "eirp_dbm" in t.defaulted
    assert 550000 < t.x < 600000 and t.source_row == 2


def test_carrier_column_wins_and_site_columns_used():
    text = ("radio,mcc,net,cell,lon,lat,carrier,site_id,height_m,azimuth_deg,beamwidth_deg,"
            "tilt_deg,tx_power_dbm,antenna_gain_dbi,frequency_mhz,bandwidth_mhz\n"
            "4G,452,4,1,105.85,21.6,MobiFone,S1,42,120,60,4,46,17,1800,15\n")
    (t,) = parse_towers(text.encode(), "t.csv")
    assert t.carrier == "MobiFone" and t.site_id == "S1" and t.height_m == 42
    assert t.azimuth_deg == 120 and t.eirp_dbm == 63 and t.bandwidth_mhz == 15 and not t.defaulted


def test_nr_band_defaults_per_carrier():
    text = "radio,carrier,cell,lon,lat\nNR,Viettel,1,105.8,21.5\nNR,VinaPhone,2,105.8,21.5\n"
    a, b = parse_towers(text, "t.csv")
    assert a.frequency_mhz == 2600 and 3700 <= b.frequency_mhz <= 3800


@pytest.mark.parametrize(
    "body, match",
    [
        ("radio,carrier,cell,lon,lat\n4G,Viettel,1,105.8,21.5\n4G,Viettel,1,105.9,21.6\n",
         r"row 3: cell=1 .* duplicates row 2"),
        ("radio,carrier,cell,lon,lat,height_m\n4G,Viettel,1,105.8,21.5,-5\n",
         r"(?s)t.csv: 1 problem.*row 2: height_m=-5, must be between"),
        ("radio,carrier,cell,lon,lat\nWIMAX,Viettel,1,105.8,21.5\n", r"row 2: radio='WIMAX'"),
        ("radio,carrier,cell,lon,lat\n4G,Viettel,1,21.5,105.8\n", r"row 2: lat=105.8.*swapped"),
        ("radio,carrier,cell,lon,lat\n4G,Viettel,1,abc,21.5\n", r"row 2: lon='abc' is not a number"),
        ("radio,carrier,cell,lon,lat\n4G,Telco,1,105.8,21.5\n", r"row 2: carrier='Telco'"),
        ("radio,mcc,net,cell,lon,lat\n4G,452,9,1,105.8,21.5\n", r"row 2: net=9: unknown MNC"),
        ("radio,cell,lon,lat\n4G,1,105.8,21.5\n", r"row 1: missing column\(s\) carrier"),
        ("radio,carrier,cell,lat\n4G,Viettel,1,21.5\n", r"row 1: missing column\(s\) lon"),
        ("", r"t.csv: the file is empty"),
        ("radio,carrier,cell,lon,lat\n", r"t.csv: no tower rows"),
    ],
)
def test_bad_input_names_file_row_column_value(body, match):
    with pytest.raises(InvalidInputError, match=match):
        parse_towers(body, "t.csv")


def test_every_problem_reported_at_once():
    body = ("radio,carrier,cell,lon,lat,height_m\n4G,Viettel,1,105.8,21.5,-1\n"
            "XG,Viettel,2,105.8,21.5,30\n4G,Viettel,3,105.8,91,30\n")
    with pytest.raises(InvalidInputError) as ei:
        parse_towers(body, "t.csv")
    assert len(ei.value.problems) == 3
    assert [p.split(":")[0] for p in ei.value.problems] == ["t.csv row 2", "t.csv row 3", "t.csv row 4"]


def test_non_utf8_rejected_with_row():
    body = b"radio,carrier,cell,lon,lat\n4G,Viettel,1,105.8,21.5\n" + "4G,Viettel,2,105.8,21.5,Thái\n".encode("cp1258")
    with pytest.raises(InvalidInputError, match=r"t.csv row 3: byte 0x.. .* not UTF-8"):
        parse_towers(body, "t.csv")


def test_bom_accepted():
    body = "\ufeffradio,carrier,cell,lon,lat\n4G,Viettel,1,105.8,21.5\n".encode()
    assert parse_towers(body, "t.csv")[0].carrier == "Viettel"


def test_tower_outside_dem_and_swapped_hint():
    body = "radio,carrier,cell,lon,lat\n4G,Viettel,1,107.5,21.5\n"
    with pytest.raises(InvalidInputError, match=r"row 2: lon=107.5, lat=21.5: the tower is outside the DEM"):
        parse_towers(body, "t.csv", crs="EPSG:32648", bounds=BOUNDS)


def test_only_carrier_rejects_foreign_rows():
    body = "radio,carrier,cell,lon,lat\n4G,Viettel,1,105.8,21.5\n4G,MobiFone,1,105.8,21.5\n"
    with pytest.raises(InvalidInputError, match=r"row 3: carrier=MobiFone: this upload may only hold Viettel"):
        parse_towers(body, "t.csv", only_carrier="Viettel")


def test_replace_carrier_rows_keeps_others():
    from lomsong.geodata.towers import replace_carrier_rows

    old = (b"radio,mcc,net,cell,lon,lat\nLTE,452,4,1,105.8,21.5\nLTE,452,1,2,105.9,21.6\n"
           b"LTE,452,4,3,105.7,21.4\n")
    new = "radio,carrier,cell,lon,lat,height_m\n4G,Viettel,9,105.85,21.55,40\n".encode("utf-8-sig")
    merged = replace_carrier_rows(old, new, "Viettel")
    ts = parse_towers(merged, "merged.csv")
    assert sorted((t.carrier, t.cell_id.split("-")[-1]) for t in ts) == [("MobiFone", "2"),
                                                                          ("Viettel", "9")]
    assert next(t for t in ts if t.carrier == "Viettel").height_m == 40
