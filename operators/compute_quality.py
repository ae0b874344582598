"""Operator: score face quality of the current view (immediate or delegated, resumable)."""
import fiftyone.operators as foo
import fiftyone.operators.types as types


class ComputeFaceQuality(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="compute_face_quality",
            label="FIQA: compute face quality",
            description="Score each sample with a registered face-quality method",
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            dynamic=False,
        )

    def resolve_input(self, ctx):
        from fiqa_plugin.integrations.fiftyone import method_choices
        from fiqa_plugin.scoring import DEFAULT_METHOD

        inputs = types.Object()
        methods = types.Dropdown(label="Method")
        for m in method_choices():
            methods.add_choice(m, label=m)
        inputs.enum("method", methods.values(), default=DEFAULT_METHOD if DEFAULT_METHOD in methods.values() else None,
                    required=True, label="Quality method", view=methods)
        inputs.str("quality_field", default="quality", required=True, label="Output field",
                   description="raw score; its 0-100 calibrated score goes to <field>_score")
        inputs.bool("detect_faces", default=True, label="Detect faces",
                    description="off: images are already aligned 112x112 face crops")
        inputs.str("faces_field", default="faces", required=False, label="Faces field (Detections)",
                   description="leave empty to store only the quality")
        inputs.int("batch_size", default=64, label="Batch size")
        inputs.bool("skip_existing", default=True, label="Skip samples already scored (resume)")
        return types.Property(inputs, view=types.View(label="Compute face quality"))

    def execute(self, ctx):
        from fiqa_plugin.integrations.fiftyone import compute_quality

        p = ctx.params
        detect = bool(p.get("detect_faces", True))
        counts = compute_quality(
            ctx.view, p["method"], quality_field=p.get("quality_field") or "quality",
            faces_field=(p.get("faces_field") or None) if detect else None, detect_faces=detect,
            batch_size=int(p.get("batch_size") or 64), skip_existing=bool(p.get("skip_existing", True)),
            progress=lambda done, total: ctx.set_progress(done / max(total, 1), f"{done}/{total} samples"),
        )
        if not ctx.delegated:
            ctx.ops.reload_dataset()
        return counts

    def resolve_output(self, ctx):
        outputs = types.Object()
        for k in ("total", "scored", "failed", "skipped"):
            outputs.int(k, label=k)
        return types.Property(outputs)


def register(p):
    p.register(ComputeFaceQuality)
