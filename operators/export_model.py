"""Operator: copy a registered ONNX quality model and its config to a folder."""
import fiftyone.operators as foo
import fiftyone.operators.types as types


class ExportQualityModel(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="export_quality_model",
            label="FIQA: export quality model to ONNX",
            description="Write <model>.onnx and its JSON config to a folder",
            unlisted=False,
        )

    def resolve_input(self, ctx):
        from fiqa_plugin.scoring import DEFAULT_METHOD

        inputs = types.Object()
        inputs.str("method", default=DEFAULT_METHOD, required=True, label="ONNX quality model")
        inputs.str("out_dir", required=True, label="Output folder")
        return types.Property(inputs)

    def execute(self, ctx):
        from fiqa_plugin.integrations.fiftyone import export_model

        return export_model(ctx.params["method"], ctx.params["out_dir"])


def register(p):
    p.register(ExportQualityModel)
