"""Extra sections of a version's page, contributed by apps above versions.

versions cannot import the apps that build on it (training, inference), yet its page should
say what they know about a version ("produced by job X", "used by job Y"). Such an app
registers a panel in its AppConfig.ready():

    register_version_panel(lambda *, request, version: render_to_string(...))

A panel returns HTML (already escaped by its template) or "" when it has nothing to say.
"""

from __future__ import annotations

from collections.abc import Callable

VersionPanel = Callable[..., str]
_PANELS: list[VersionPanel] = []


def register_version_panel(panel: VersionPanel) -> None:
    if panel not in _PANELS:
        _PANELS.append(panel)


def version_panels(*, request, version) -> list[str]:
    return [html for html in (panel(request=request, version=version) for panel in _PANELS) if html]
