"""Operator: keep the best k faces of each group (identity, video, template) → tag / saved view."""
import fiftyone.operators as foo
import fiftyone.operators.types as types


class SelectBestFacesPerGroup(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="select_best_faces_per_group",
            label="FIQA: select best faces per group",
            description="The k highest-quality samples of each identity, video or template",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        inputs.str("quality_field", default="quality", required=True, label="Quality field")
        inputs.str("group_field", default="ground_truth", required=True, label="Group field",
                   description="identity (Classification or string), video or template id, or a grouped dataset's group")
        inputs.int("k", default=1, required=True, label="Best k per group")
        inputs.str("tag", required=False, label="Tag the selected samples")
        inputs.str("view_name", required=False, label="Save as view")
        return types.Property(inputs, view=types.View(label="Select best faces per group"))

    def execute(self, ctx):
        from fiqa_plugin.integrations.fiftyone import select_by_quality, tag_or_save

        p = ctx.params
        view = select_by_quality(ctx.view, p.get("quality_field") or "quality", best_k_per=int(p.get("k") or 1),
                                 group_field=p["group_field"])
        out = tag_or_save(view, tag=p.get("tag") or None, view_name=p.get("view_name") or None)
        if not ctx.delegated:
            ctx.ops.set_view(view=view)
        return out


def register(p):
    p.register(SelectBestFacesPerGroup)
