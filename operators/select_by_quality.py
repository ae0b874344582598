"""Operator: select samples by quality (below a threshold, lowest k, best k per group) → tag / saved view."""
import fiftyone.operators as foo
import fiftyone.operators.types as types

CRITERIA = ("threshold", "lowest_k", "best_k_per")


class SelectByFaceQuality(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="select_by_face_quality",
            label="FIQA: select by face quality",
            description="Tag or save a view of the worst faces, or the best k per identity",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        inputs.str("quality_field", default="quality", required=True, label="Quality field")
        crit = types.RadioGroup()
        for c in CRITERIA:
            crit.add_choice(c, label=c.replace("_", " "))
        inputs.enum("criterion", crit.values(), default="threshold", required=True, view=crit)
        inputs.float("value", required=True, label="Threshold or k")
        inputs.bool("calibrated", default=True, label="Threshold on the 0-100 calibrated score",
                    description="on: compare <quality field>_score (percentile among typical faces) with the "
                                "threshold; off: the raw quality")
        inputs.str("group_field", required=False, label="Group field (identity) for best k per group")
        inputs.str("tag", required=False, label="Tag the selected samples")
        inputs.str("view_name", required=False, label="Save as view")
        return types.Property(inputs)

    def execute(self, ctx):
        from fiqa_plugin.integrations.fiftyone import select_by_quality, tag_or_save

        p = ctx.params
        crit, value = p["criterion"], p["value"]
        kw = {crit: value if crit == "threshold" else int(value)}
        if crit == "threshold":
            kw["calibrated"] = bool(p.get("calibrated", True))
        view = select_by_quality(ctx.view, p.get("quality_field") or "quality",
                                 group_field=p.get("group_field") or None, **kw)
        out = tag_or_save(view, tag=p.get("tag") or None, view_name=p.get("view_name") or None)
        if not ctx.delegated:
            ctx.ops.set_view(view=view)
        return out


def register(p):
    p.register(SelectByFaceQuality)
