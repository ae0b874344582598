"""Panel "Face quality": histogram of a quality field, a threshold slider that sets the App's view, per-identity
counts, and every stored EDC run on one figure with its pAUCs and recommended thresholds.

The panel works on the App's view when it was opened or last refreshed (its *base* view, kept in its state,
without the panel's own threshold stage); the slider's view is that base plus one stage, so moving it
never compounds. All numbers come from ``fiqa_plugin.integrations.fiftyone_panel_data``.
"""
import fiftyone as fo
import fiftyone.operators as foo
import fiftyone.operators.types as types

EDC_OPERATOR = "@fiqa/fiqa-plugin/evaluate_edc"
MODES = {"samples": "samples at or above", "faces": "faces at or above"}


class FaceQualityPanel(foo.Panel):
    @property
    def config(self):
        return foo.PanelConfig(
            name="face_quality_panel",
            label="Face quality",
            icon="face",
            help_markdown="Histogram of a face-quality field (0-100 calibrated when available), a threshold that "
                          "sets the view, per-identity counts and the EDC runs of the dataset (fiqa-plugin).",
        )

    # --- events ----------------------------------------------------------------------------
    def on_load(self, ctx):
        self._set_base(ctx)
        self._refresh(ctx)

    def _set_base(self, ctx):
        """The App's view without this panel's threshold stage (when it ends with one) is the base."""
        from fiqa_plugin.integrations.fiftyone_panel_data import split_threshold, view_stages

        s = ctx.panel.state
        view, t = ctx.view, None
        if s.get("controls.field"):
            faces = s.faces_fields[0] if s.faces_fields else None
            view, t = split_threshold(ctx.view, s.get("controls.field"), faces)
        s.base_view = view_stages(view)
        if t is not None:
            s.threshold = t

    def on_change_dataset(self, ctx):
        self.on_load(ctx)

    def on_refresh(self, ctx):
        self._set_base(ctx)
        self._refresh(ctx)

    def on_field(self, ctx):
        ctx.panel.state.threshold = None  # a new scale: start with every face kept
        self._refresh(ctx)

    def on_settings(self, ctx):
        self._apply(ctx, set_view=True)

    def on_threshold(self, ctx):
        self._apply(ctx, set_view=True)

    def on_reset(self, ctx):
        base = self._base(ctx)
        ctx.panel.state.threshold = ctx.panel.state.hist_min
        ctx.ops.set_view(view=base)
        self._counts(ctx, base, base)

    def on_evaluate(self, ctx):
        s = ctx.panel.state
        field = s.raw_field
        ctx.prompt(EDC_OPERATOR, params={"quality_field": field, "identity_field": s.get("controls.identity_field"),
                                         "eval_key": f"edc_{field}"}, on_success=self.on_refresh)

    # --- computation -------------------------------------------------------------------------
    def _base(self, ctx):
        stages = ctx.panel.state.base_view or []
        return fo.DatasetView._build(ctx.dataset, stages) if stages else ctx.dataset.view()

    def _refresh(self, ctx):
        """Fields, histogram and EDC runs of the base view; then the threshold's counts (the App's view is
        left alone until the slider or a setting moves)."""
        from fiqa_plugin.integrations import fiftyone_panel_data as pd

        base = self._base(ctx)
        s = ctx.panel.state
        c = dict(s.controls or {})
        fields, faces, ids = pd.quality_fields(base), pd.faces_fields(base), pd.identity_fields(base)
        if c.get("field") not in fields:
            c["field"] = fields[0] if fields else None
        if c.get("identity_field") not in ids:
            c["identity_field"] = ids[0] if ids else None
        if c.get("mode") not in MODES or (c.get("mode") == "faces" and not faces):
            c["mode"] = "samples"
        edc = pd.edc_display(pd.edc_runs(ctx.dataset))
        ctx.panel.data.set({"edc_plot": edc["figure"]["data"], "pauc": edc["pauc"],
                            "recommendations": edc["recommendations"]})
        runs = {r["run"]: f"`{r['run']}` ({r['field']}, {r['pairs']} pairs)" for r in edc["pauc"]}
        s.set({"controls": c, "fields": fields, "faces_fields": faces, "identity_fields": ids,
               "edc_layout": edc["figure"]["layout"], "edc_runs": "; ".join(runs.values()),
               "pauc_columns": list(dict.fromkeys(k for r in edc["pauc"] for k in r)),
               "has_edc": bool(edc["pauc"]), "has_recommendations": bool(edc["recommendations"])})
        if not c["field"]:
            return
        s.raw_field = pd.raw_field(base, c["field"])
        h = pd.histogram(base, c["field"])
        ctx.panel.data.histogram = [h["trace"]]
        t = s.threshold
        if t is None or not (h["min"] <= t <= h["max"]):
            t = h["min"]
        s.set({"hist_min": h["min"], "hist_max": h["max"], "step": h["step"], "scale": h["scale"],
               "unscored": h["unscored"], "threshold": t})
        self._apply(ctx, base)

    def _apply(self, ctx, base=None, set_view=False):
        """The threshold's view and counts; with ``set_view`` the App shows that view."""
        from fiqa_plugin.integrations.fiftyone_panel_data import threshold_view

        s = ctx.panel.state
        field = s.get("controls.field")
        if not field:
            return
        base = base or self._base(ctx)
        faces = s.faces_fields[0] if s.get("controls.mode") == "faces" and s.faces_fields else None
        view = threshold_view(base, field, float(s.threshold), faces_field=faces)
        if set_view:
            ctx.ops.set_view(view=view)
        self._counts(ctx, base, view, faces)

    def _counts(self, ctx, base, view, faces=None):
        from fiqa_plugin.integrations.fiftyone_panel_data import identity_counts, kept_counts

        s = ctx.panel.state
        field, identity = s.get("controls.field"), s.get("controls.identity_field")
        c = kept_counts(base, view, faces)
        ids = identity_counts(base, field, identity, float(s.threshold)) if identity else None
        ctx.panel.data.identities = ids["rows"] if ids else []
        s.set({"kept": c["kept"], "total": c["samples"], "faces_kept": c.get("faces_kept"),
               "faces_total": c.get("faces"), "n_identities": ids["identities"] if ids else 0,
               "without_kept": ids["without_kept"] if ids else 0})

    # --- layout ----------------------------------------------------------------------------
    def render(self, ctx):
        s = ctx.panel.state
        field, mode, identity = (s.get(f"controls.{k}") for k in ("field", "mode", "identity_field"))
        panel = types.Object()
        if not field:
            panel.md("No face-quality field in this view yet: run **FIQA: compute face quality** "
                     "(operator browser, `` ` ``), then refresh.", name="empty")
            panel.btn("refresh", label="Refresh", on_click=self.on_refresh)
            return types.Property(panel, view=types.GridView(orientation="vertical", padding=2))

        controls = panel.h_stack("controls", align_y="center", gap=2)
        fields = types.Dropdown(label="Quality field")
        for f in s.fields or []:
            fields.add_choice(f, label=f)
        controls.enum("field", fields.values(), label="Quality field", view=fields, on_change=self.on_field)
        if s.faces_fields:
            modes = types.RadioGroup(orientation="horizontal")
            for k in MODES:
                modes.add_choice(k, label=k)
            controls.enum("mode", modes.values(), label="Keep", view=modes, on_change=self.on_settings)
        if s.identity_fields:
            ids = types.Dropdown(label="Identity field")
            for f in s.identity_fields:
                ids.add_choice(f, label=f)
            controls.enum("identity_field", ids.values(), label="Identity field", view=ids, on_change=self.on_settings)
        buttons = panel.h_stack("buttons", gap=1)
        buttons.btn("refresh", label="Refresh", on_click=self.on_refresh)
        buttons.btn("reset", label="Show all", on_click=self.on_reset)

        scale = "calibrated 0-100 (50 = a typical face)" if s.scale == "0-100" else "raw score (no calibration table)"
        kept = f"**{s.kept:,}** of {s.total:,} samples"
        if mode == "faces" and s.faces_total is not None:
            kept += f" (**{s.faces_kept:,}** of {s.faces_total:,} faces)"
        panel.md(f"**{field}**: {scale}. {kept} at or above **{s.threshold:.6g}**"
                 + (f"; {s.unscored:,} without a score" if s.unscored else ""), name="summary")
        panel.float("threshold", min=s.hist_min, max=s.hist_max, label="Threshold", on_change=self.on_threshold,
                    view=types.SliderView(label="Threshold", view_multiple_of=s.step,
                                          value_precision=1 if s.scale == "0-100" else 4))
        panel.plot("histogram", layout={
            "xaxis": {"title": {"text": field}}, "yaxis": {"title": {"text": "samples"}}, "height": 240,
            "margin": {"t": 10, "b": 40}, "bargap": 0.05,
            "shapes": [{"type": "line", "x0": s.threshold, "x1": s.threshold, "yref": "paper", "y0": 0, "y1": 1,
                        "line": {"color": "#e4572e", "width": 2}}]}, config={"displayModeBar": False})

        if identity:
            panel.md(f"**Per identity** ({identity}): {s.n_identities:,} identities, **{s.without_kept:,}** with no "
                     f"face at or above the threshold; the fewest kept first", name="ids_title")
            table = types.TableView()
            for key in ("identity", "faces", "kept", "best"):
                table.add_column(key, label=key)
            panel.list("identities", types.Object(), view=table)

        panel.md("**Error versus discard (EDC)** of every stored run" + (f": {s.edc_runs}" if s.has_edc else ""),
                 name="edc_title")
        if s.has_edc:
            panel.plot("edc_plot", layout=s.edc_layout, config={"displayModeBar": False})
            panel.list("pauc", types.Object(), view=pauc_table(s.pauc_columns or []))
            if s.has_recommendations:
                panel.md("**Recommended thresholds** (drop faces below them)", name="recs_title")
                panel.list("recommendations", types.Object(), view=recommendations_table())
        else:
            panel.md("No EDC run stored on this dataset yet.", name="no_edc")
        if identity:
            panel.btn("evaluate", label=f"Evaluate EDC of {s.raw_field} by {identity}", on_click=self.on_evaluate)
        return types.Property(panel, view=types.GridView(orientation="vertical", padding=2, gap=1))


def pauc_table(keys) -> types.TableView:
    """Columns of :func:`fiqa_plugin.integrations.fiftyone_panel_data.pauc_rows` (``keys``: the rows' keys),
    without its field and pairs (written above the table): narrow enough for a panel beside the grid."""
    table = types.TableView()
    for key, label in (("run", "run"), ("fmr", "FMR"), ("fnmr0", "FNMR, no discard")):
        table.add_column(key, label=label)
    for key in (k for k in keys if k.startswith(("pauc_", "erc_"))):
        kind, lim = key.split("_", 1)
        table.add_column(key, label=f"{'EDC pAUC' if kind == 'pauc' else 'ERC pAUC (re-fixed)'}@{lim.replace('_', '.')}")
    return table


def recommendations_table() -> types.TableView:
    """Columns of :func:`fiqa_plugin.integrations.fiftyone_panel_data.recommendation_rows`."""
    table = types.TableView()
    for key, label in (("run", "run"), ("fmr", "FMR"), ("discard", "discard"), ("threshold", "threshold (raw)"),
                       ("score", "threshold (0-100)"), ("dropped", "faces dropped"), ("fnmr_before", "FNMR before"),
                       ("fnmr_after", "FNMR after")):
        table.add_column(key, label=label)
    return table


def register(p):
    p.register(FaceQualityPanel)
