"""Service flavors (ModelArts specification, e.g. modelarts.vm.cpu.2u): the share of a node an instance holds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.conf import settings


@dataclass(frozen=True)
class ServiceFlavor:
    flavor_id: str
    name: str
    cpu_cores: int
    memory_gb: int
    gpu_count: int = 0
    arch: str = "x86"
    category: str = "CPU"

    def spec(self) -> dict:
        return asdict(self)


def flavor_list() -> list[ServiceFlavor]:
    return [ServiceFlavor(**item) for item in settings.SERVICE_FLAVORS]


def flavor_get(flavor_id) -> ServiceFlavor | None:
    return next((f for f in flavor_list() if f.flavor_id == flavor_id), None)


def node_fits(node, spec: dict, *, used_cores: int = 0, used_memory_gb: int = 0) -> bool:
    """Whether the node still holds the flavor next to what already runs there."""
    cores = int(spec.get("cpu_cores") or 0)
    memory = int(spec.get("memory_gb") or 0) * 1024**3
    gpus = int(spec.get("gpu_count") or 0)
    return (
        node.cpu_cores - used_cores >= cores
        and node.memory_bytes - used_memory_gb * 1024**3 >= memory
        and node.gpu_count >= gpus
    )
