"""Registry browser (``%nbt models`` in Jupyter): models → versions → detail, promote / roll back.

Layout only: every number comes from the registry API's result objects (``ModelsTable``,
``VersionsTable``, ``Lineage``, ``PromotionResult``); the buttons call ``promote`` / ``rollback``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ..errors import NbtError
from ..reports.render import macro, safe
from ._base import BAD, FRAGMENTS, MUTED, OK, Composite, error_html, guarded, html_table

if TYPE_CHECKING:
    from ..reports.registry import ModelsTable, VersionsTable


def _registry_api() -> Any:
    from .. import registry

    return SimpleNamespace(models=registry.models, versions=registry.versions, lineage=registry.lineage,
                           promote=registry.promote, rollback=registry.rollback,
                           check_gates=lambda ref, gates: registry.check_gates(registry.resolve(ref), gates))


class RegistryBrowser(Composite):
    """Browse registered models and move aliases, inside the notebook.

    Parameters
    ----------
    table : ModelsTable, optional
        The models to show first (what ``%nbt models`` returned); fetched when omitted.
    model : str, optional
        Model selected at start (default: the first one).
    api : object, optional
        Provides ``models``, ``versions``, ``lineage``, ``promote``, ``rollback`` and
        ``check_gates(ref, gates)`` (default: :mod:`nbtoolkit.registry`).

    Parts (for tests and scripting): ``model_select``, ``version_select``, ``alias_text``,
    ``gates_text``, ``promote_button``, ``rollback_button``, ``refresh_button``, ``models_html``,
    ``versions_html``, ``detail_html``, ``gates_html`` (gate preview), ``result_html``.
    """

    def __init__(self, table: ModelsTable | None = None, *, model: str | None = None, api: Any = None) -> None:
        super().__init__()
        import ipywidgets as W

        self.api = api or _registry_api()
        self.table = table
        self.versions_table: Any = None
        self.lineage: Any = None
        self.last_result: Any = None

        self.model_select = W.Dropdown(description="Model", options=[], layout=W.Layout(width="260px"))
        self.refresh_button = W.Button(description="Refresh", icon="refresh", layout=W.Layout(width="100px"))
        self.models_html = W.HTML()
        self.versions_html = W.HTML()
        self.version_select = W.Dropdown(description="Version", options=[], layout=W.Layout(width="200px"))
        self.detail_html = W.HTML()
        self.alias_text = W.Text(value="champion", description="Alias", layout=W.Layout(width="220px"))
        self.gates_text = W.Text(placeholder="accuracy>=0.9, f1>=0.8", description="Gates",
                                 continuous_update=False, layout=W.Layout(width="320px"))
        self.gates_html = W.HTML()
        self.promote_button = W.Button(description="Promote", button_style="primary", icon="arrow-up")
        self.rollback_button = W.Button(description="Roll back", button_style="warning", icon="undo")
        self.result_html = W.HTML()
        for part, cls in ((self.models_html, "nbt-models"), (self.versions_html, "nbt-versions"),
                          (self.detail_html, "nbt-detail"), (self.gates_html, "nbt-gates"),
                          (self.result_html, "nbt-result")):
            part.add_class(cls)

        detail = W.Box([self.detail_html], layout=W.Layout(max_height="240px", overflow="auto",
                                                           border="1px solid #ddd", padding="0 4px"))
        self.widget = W.VBox([
            W.HBox([W.HTML("<b>Model registry</b>"), self.model_select, self.refresh_button]),
            self.models_html,
            W.HTML("<b>Versions</b>"),
            self.versions_html,
            self.version_select,
            detail,
            W.HBox([self.alias_text, self.gates_text, self.promote_button, self.rollback_button]),
            self.gates_html,
            self.result_html,
        ])
        self.widget.add_class("nbt-registry-browser")

        self.model_select.observe(self._on_model, names="value")
        self.version_select.observe(self._on_version, names="value")
        self.gates_text.observe(lambda _: self._preview_gates(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.promote_button.on_click(lambda _: self.promote())
        self.rollback_button.on_click(lambda _: self.rollback())
        self.refresh(model=model, fetch=table is None)

    # ------------------------------------------------------------------ data → widgets
    def refresh(self, *, model: str | None = None, fetch: bool = True) -> None:
        """Re-read the registry (models, then the selected model's versions and detail)."""
        if fetch:
            with self.settings():
                ok = guarded(self.result_html, self._fetch_models)
            if not ok:
                return
        table = self.table
        names = [r["name"] for r in table.rows] if table is not None else []
        self.models_html.value = (html_table(table.to_frame(), css_class="nbt-models-table")
                                  if table is not None and names else macro(FRAGMENTS, "muted", colour=MUTED,
                                                      text="No models registered yet; use %nbt register."))
        keep = model or self.model_select.value
        self.model_select.unobserve(self._on_model, names="value")
        self.model_select.options = names
        self.model_select.value = keep if keep in names else (names[0] if names else None)
        self.model_select.observe(self._on_model, names="value")
        self._show_model(self.model_select.value)

    def _fetch_models(self) -> str:
        self.table = self.api.models()
        return ""

    def _on_model(self, change: dict[str, Any]) -> None:
        self.result_html.value = ""
        self.version_select.options = []  # another model: start from its latest version
        self._show_model(change["new"])

    def _show_model(self, name: str | None) -> None:
        self.versions_table = None
        if name is None:
            self.versions_html.value = ""
            self._set_versions([])
            return
        with self.settings():
            ok = guarded(self.versions_html, lambda: self._versions_html(name))
        self._set_versions([r["version"] for r in self.versions_table.rows] if ok else [])

    def _versions_html(self, name: str) -> str:
        self.versions_table = self.api.versions(name)
        return html_table(self.versions_table.to_frame(), css_class="nbt-versions-table",
                          row_style=lambda row: "font-weight:bold" if row.get("aliases") else "")

    def _set_versions(self, versions: list[str]) -> None:
        keep = self.version_select.value
        self.version_select.unobserve(self._on_version, names="value")
        self.version_select.options = versions
        self.version_select.value = keep if keep in versions else (versions[0] if versions else None)
        self.version_select.observe(self._on_version, names="value")
        self._show_version(self.version_select.value)

    def _on_version(self, change: dict[str, Any]) -> None:
        self._show_version(change["new"])

    def _show_version(self, version: str | None) -> None:
        self.lineage = None
        name = self.model_select.value
        if name is None or version is None:
            self.detail_html.value = ""
        else:
            with self.settings():
                guarded(self.detail_html, lambda: self._detail_html(name, version))
        self._preview_gates()

    def _preview_gates(self) -> None:
        """The typed gates checked against the selected version, before anything moves."""
        name, version, gates = self.model_select.value, self.version_select.value, self.gates()
        if name is None or version is None or not gates:
            self.gates_html.value = ""
            return

        def rows() -> str:
            import pandas as pd

            frame = pd.DataFrame(self.api.check_gates(f"{name}/{version}", gates),
                                 columns=["gate", "observed", "passed"])
            return macro(FRAGMENTS, "titled", title=f"Gates on {name}/{version}:", italic=True,
                         body=safe(html_table(frame, css_class="nbt-gates-table",
                                              tone=lambda r: "good" if r["passed"] else "bad",
                                              row_style=lambda r: f"color:{OK if r['passed'] else BAD}")))

        with self.settings():
            guarded(self.gates_html, rows)

    def _detail_html(self, name: str, version: str) -> str:
        self.lineage = self.api.lineage(f"{name}/{version}")
        frame = self.lineage.to_frame()
        return macro(FRAGMENTS, "titled", title=self.lineage.summary(),
                     body=safe(html_table(frame[frame["value"].notna() & (frame["value"] != "")],
                                          css_class="nbt-lineage-table")))

    # ------------------------------------------------------------------ actions
    def gates(self) -> list[str]:
        """The gates typed in the Gates box (comma- or space-separated)."""
        return [g for g in self.gates_text.value.replace(",", " ").split() if g]

    def promote(self) -> None:
        """Move the alias to the selected version when every gate holds; show the outcome."""
        name, version, alias = self.model_select.value, self.version_select.value, self.alias_text.value.strip()
        if name is None or version is None:
            return
        self._act(lambda: self.api.promote(name, version, alias=alias, require=self.gates()))

    def rollback(self) -> None:
        """Move the alias back to its previous holder; show the outcome."""
        name, alias = self.model_select.value, self.alias_text.value.strip()
        if name is None:
            return
        self._act(lambda: self.api.rollback(name, alias=alias))

    def _act(self, call: Any) -> None:
        self.last_result = None
        with self.settings():
            try:
                self.last_result = call()
            except NbtError as exc:
                self.result_html.value = error_html(exc)
                return
            self.refresh(model=self.model_select.value)  # aliases moved: re-read first
        self.gates_html.value = ""  # the outcome below lists the gates that were checked
        self.result_html.value = macro(FRAGMENTS, "wrapped", css_class="", style=f"color:{OK}",
                                       body=safe(self.last_result._repr_html_()))


def registry_browser(table: ModelsTable | None = None, **kwargs: Any) -> RegistryBrowser:
    """A :class:`RegistryBrowser` for a ``ModelsTable`` (or the live registry)."""
    return RegistryBrowser(table, **kwargs)


def versions_browser(table: VersionsTable, **kwargs: Any) -> RegistryBrowser:
    """A :class:`RegistryBrowser` opened on the model of a ``VersionsTable``."""
    return RegistryBrowser(model=table.name, **kwargs)
