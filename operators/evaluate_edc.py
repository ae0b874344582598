"""Operator: error-versus-discard (EDC) of a quality field; stored as a dataset run, shown as one Plotly figure
with its pAUC and recommended-threshold tables (the Face quality panel draws every stored run the same way)."""
import fiftyone.operators as foo
import fiftyone.operators.types as types


class EvaluateEDC(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="evaluate_edc",
            label="FIQA: evaluate quality (EDC)",
            description="FNMR versus discarded fraction of verification pairs, lowest quality first",
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            dynamic=True,  # the form changes with the pairs source
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        inputs.str("quality_field", default="quality", required=True, label="Quality field")
        source = types.RadioGroup()
        source.add_choice("identity", label="sample pairs from an identity field")
        source.add_choice("pairs_file", label="pairs file (LFW pairs.txt or a,b,genuine CSV)")
        inputs.enum("source", source.values(), default="identity", view=source, label="Pairs")
        if ctx.params.get("source", "identity") == "identity":
            inputs.str("identity_field", default="ground_truth", required=True, label="Identity field")
            inputs.int("n_genuine", default=3000, label="Genuine pairs")
            inputs.int("n_impostor", default=30000, label="Impostor pairs")
        else:
            inputs.str("pairs_file", required=True, label="Pairs file")
            inputs.str("images_root", required=False, label="Image folder of a pairs.txt (default: images/ beside it)")
        inputs.str("recognizer", default="buffalo_sc", label="Recognizer for similarities")
        inputs.str("fmrs", default="0.001,0.01", label="Target FMRs (comma-separated)")
        inputs.str("eval_key", default="edc", label="Run key")
        return types.Property(inputs, view=types.View(label="Evaluate quality (EDC)"))

    def execute(self, ctx):
        import json

        from fiqa_plugin.integrations.fiftyone_panel_data import evaluate_edc_for_app

        p = ctx.params
        by_file = p.get("source") == "pairs_file"
        shown = evaluate_edc_for_app(
            ctx.view, quality_field=p["quality_field"],
            identity_field=None if by_file else p.get("identity_field") or "ground_truth",
            pairs_file=p.get("pairs_file") if by_file else None, images_root=p.get("images_root") or None,
            recognizer=p.get("recognizer") or "buffalo_sc", n_genuine=int(p.get("n_genuine") or 3000),
            n_impostor=int(p.get("n_impostor") or 30000),
            fmrs=[float(x) for x in str(p.get("fmrs") or "0.001,0.01").split(",") if x.strip()],
            eval_key=p.get("eval_key") or "edc",
            progress=lambda done, total: ctx.set_progress(done / max(total, 1), f"embedding {done}/{total}"),
        )
        # JSON round trip: the result is stored (delegated) and sent to the App as plain types
        return json.loads(json.dumps(shown, default=float))

    def resolve_output(self, ctx):
        from .quality_panel import pauc_table, recommendations_table

        res = ctx.results or {}
        outputs = types.Object()
        outputs.str("eval_key", label="Saved as run (the Face quality panel shows every run)")
        outputs.int("pairs", label="Pairs")
        outputs.int("genuine", label="Genuine pairs")
        figure = res.get("figure") or {}
        outputs.plot("edc", label="EDC", data=figure.get("data") or [], layout=figure.get("layout") or {},
                     config={"displayModeBar": False})
        keys = list(dict.fromkeys(k for r in res.get("pauc") or [] for k in r))
        outputs.list("pauc", types.Object(), label="pAUC", view=pauc_table(keys))
        if res.get("recommendations"):
            outputs.list("recommendations", types.Object(), label="Recommended thresholds (drop faces below them)",
                         view=recommendations_table())
        return types.Property(outputs)


def register(p):
    p.register(EvaluateEDC)
