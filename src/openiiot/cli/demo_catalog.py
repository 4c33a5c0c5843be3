"""What `openiiot demo` creates: the demo enterprise, its site and asset tree, profiles and devices."""

from __future__ import annotations

from typing import Any

TENANT = {
    "name": "Demo Compressor Works",
    "timezone": "Asia/Shanghai",
    "region_code": "320505",  # Suzhou New District (GB/T 2260)
    "industry_code": "C3442",  # gas compressor manufacturing (GB/T 4754-2017)
}
SITE = {
    "name": "Suzhou plant",
    "address": "Suzhou New District, Jiangsu",
    "latitude": 31.3,
    "longitude": 120.5,
}


def _key(
    key: str, unit: str, kind: str = "measurement", lo: float | None = None, hi: float | None = None
) -> dict[str, Any]:
    return {"key": key, "unit": unit, "kind": kind, "min_value": lo, "max_value": hi}


PROFILES: dict[str, dict[str, Any]] = {
    "compressor": {
        "name": "Screw compressor 90 kW",
        "strict": True,
        "inactivity_timeout_s": 60,
        "keys": [
            _key("state", "", "state", 0, 2),
            _key("flow_m3_min", "m³/min", lo=0, hi=50),
            _key("power_kw", "kW", lo=0, hi=200),
            _key("current_a", "A", lo=0, hi=500),
            _key("discharge_pressure_bar", "bar", lo=0, hi=16),
            _key("motor_temp_c", "°C", lo=-40, hi=200),
            _key("discharge_temp_c", "°C", lo=-40, hi=200),
            _key("run_hours", "h", "counter", lo=0),
            _key("loaded_hours", "h", "counter", lo=0),
            _key("energy_kwh", "kWh", "counter", lo=0),
        ],
        "methods": [
            {"name": "start", "description": "enable the compressor (it loads when the header asks)"},
            {"name": "stop", "dangerous": True, "description": "stop the motor; a second user confirms"},
            {"name": "load", "description": "load now"},
            {"name": "unload", "description": "unload now (the motor keeps running)"},
            {
                "name": "set_pressure_setpoint",
                "description": "move the load/unload band to centre on the set-point",
                "params": [{"name": "setpoint_bar", "min": 5.5, "max": 8.0, "unit": "bar"}],
            },
        ],
    },
    "flow_meter": {
        "name": "Header flow meter",
        "strict": True,
        "inactivity_timeout_s": 60,
        "keys": [
            _key("flow_m3_min", "m³/min", lo=0, hi=500),
            _key("volume_m3", "m³", "counter", lo=0),
            _key("air_temp_c", "°C", lo=-40, hi=120),
        ],
    },
    "pressure_sensor": {
        "name": "Header pressure transmitter",
        "strict": True,
        "inactivity_timeout_s": 60,
        "keys": [_key("pressure_bar", "bar", lo=0, hi=16)],
    },
    "robot_joint": {
        "name": "Robot joint with RV reducer",
        "strict": True,
        "inactivity_timeout_s": 60,
        "keys": [
            _key("angle_deg", "°", lo=-720, hi=720),
            _key("speed_deg_s", "°/s", lo=-1000, hi=1000),
            _key("torque_nm", "N·m", lo=-20000, hi=20000),
            _key("current_a", "A", lo=-200, hi=200),
            _key("temp_c", "°C", lo=-40, hi=150),
            _key("vibration_mm_s", "mm/s", lo=0, hi=100),
            _key("load_torque_nm", "N·m", lo=-20000, hi=20000),
            _key("cycles", "", "counter", lo=0),
        ],
        "methods": [
            {"name": "start"},
            {"name": "stop", "dangerous": True, "description": "halt the robot; a second user confirms"},
            {
                "name": "run_health_check",
                "timeout_s": 60,
                "description": "run the fixed health-check trajectory and report torque, current, vibration",
            },
        ],
    },
}

# (asset name, asset type, parent asset name or None)
ASSETS = [
    ("Compressed-air station", "station", None),
    ("Robot cell 1", "cell", None),
    ("Robot cell 2", "cell", None),
]

# (device name, model, asset name, simulator group)
DEVICES = [
    *[(f"Compressor C{i}", "compressor", "Compressed-air station", "station-1") for i in range(1, 5)],
    ("Header flow meter", "flow_meter", "Compressed-air station", "station-1"),
    ("Header pressure", "pressure_sensor", "Compressed-air station", "station-1"),
    *[
        (f"Cell {c} robot joint J{j}", "robot_joint", f"Robot cell {c}", None)
        for c in (1, 2)
        for j in (1, 2, 3)
    ],
]


#: alarm rules the demo attaches to its profiles (by model), so the console has alarms to show at once:
#: a loaded screw compressor's discharge runs at about 85 °C and an unloaded one near 72 °C
ALARM_RULES: dict[str, list[dict[str, Any]]] = {
    "compressor": [
        {
            "name": "Discharge temperature high",
            "alarm_type": "Discharge temperature high",
            "levels": [
                {
                    "severity": "warning",
                    "condition": {"type": "threshold", "key": "discharge_temp_c", "op": ">", "value": 80},
                },
            ],
        }
    ],
}
