"""The NVML reading of the node agent against a real GPU; nothing faked. Skipped, with why, without one."""

from __future__ import annotations

import pytest

from console.nodepools.workloads.agent import detect_gpus


def real_gpu_count() -> tuple[int, str]:
    try:
        import pynvml
    except ImportError:
        return 0, "pynvml is not installed on this machine"
    try:
        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetCount(), "no GPU visible to NVML"
    except Exception as error:
        return 0, f"NVML cannot start here (no driver?): {error}"


def test_detect_gpus_reports_every_gpu_nvml_sees_with_its_name_and_memory():
    count, why = real_gpu_count()
    if count == 0:
        pytest.skip(why)
    gpus = detect_gpus()
    assert [gpu["index"] for gpu in gpus] == list(range(count))
    assert all(gpu["name"] and gpu["memory_bytes"] > 0 for gpu in gpus)
