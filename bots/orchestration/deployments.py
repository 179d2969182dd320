"""Read prefect.yaml's deployments into Prefect runner deployments, validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from bots.core.errors import ConfigError
from bots.core.yamlfile import load_model


class ScheduleSpec(BaseModel, extra="allow"):
    cron: str | None = None
    interval: float | None = Field(None, gt=0, description="seconds")
    timezone: str | None = None
    active: bool = True

    @model_validator(mode="after")
    def _one(self) -> ScheduleSpec:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of cron or interval")
        if self.cron is not None and not self.timezone:
            raise ValueError("a cron schedule needs an explicit IANA timezone")
        return self


class DeploymentSpec(BaseModel, extra="allow"):
    name: str
    entrypoint: str = Field(pattern=r"^flows/[\w/]+\.py:\w+$")
    parameters: dict[str, Any] = Field(default_factory=dict)
    schedules: list[ScheduleSpec] = Field(default_factory=list)
    description: str | None = None
    tags: list[str] = Field(default_factory=list)


class PrefectProject(BaseModel, extra="allow"):
    deployments: list[DeploymentSpec] = Field(min_length=1)


def load_deployments(path: Path, project_root: Path) -> list[Any]:
    """RunnerDeployments for every deployment in prefect.yaml, or ConfigError naming the place."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron, Interval

    spec = load_model(path, PrefectProject)
    out = []
    for i, dep in enumerate(spec.deployments):
        where = f"deployments.{i}"
        try:
            flow: Any = load_flow_from_entrypoint(str(project_root / dep.entrypoint))
        except Exception as exc:
            raise ConfigError(str(path), None, f"{where}.entrypoint", f"cannot load: {exc}") from exc
        try:
            flow.validate_parameters(dep.parameters)
        except Exception as exc:
            raise ConfigError(str(path), None, f"{where}.parameters", str(exc)) from exc
        try:
            schedules = [
                Cron(s.cron, timezone=s.timezone, active=s.active)
                if s.cron
                else Interval(s.interval or 0, timezone=s.timezone, active=s.active)
                for s in dep.schedules
            ]
        except Exception as exc:
            raise ConfigError(str(path), None, f"{where}.schedules", str(exc)) from exc
        out.append(
            flow.to_deployment(
                name=dep.name,
                parameters=dep.parameters,
                schedules=schedules,
                description=dep.description,
                tags=dep.tags,
            )
        )
    return out
