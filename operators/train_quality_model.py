"""Operator: train a tinyFQnet quality model from a label field; the new ``arch.tag`` is usable at once."""
import fiftyone.operators as foo
import fiftyone.operators.types as types


class TrainQualityModel(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="train_quality_model",
            label="FIQA: train a quality model",
            description="Regress a quality label field with tinyFQnet; exports ONNX into the user models folder",
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            default_choice_to_delegated=True,
        )

    def resolve_input(self, ctx):
        from fiqa_plugin.integrations.fiftyone_train import crop_architectures

        inputs = types.Object()
        inputs.str("label_field", default="pseudo_quality", required=True, label="Label field")
        inputs.str("tag", required=True, label="Model tag", description="the model is registered as <arch>.<tag>")
        archs = types.RadioGroup()
        for a in crop_architectures():
            archs.add_choice(a, label=a)
        inputs.enum("arch", archs.values(), default="tinyfqnet", label="Architecture", view=archs)
        inputs.str("identity_field", default="ground_truth", required=False, label="Identity field",
                   description="held-out identities and smooth sampling; empty: sampling none")
        sampling = types.RadioGroup()
        for s in ("smooth", "random", "none"):
            sampling.add_choice(s, label=s)
        inputs.enum("sampling", sampling.values(), default="smooth", label="Sampling", view=sampling)
        inputs.int("min_images", default=10, label="Min images per identity (sampling)")
        inputs.int("epochs", default=17, label="Epochs")
        inputs.int("input_size", default=64, label="Input size (px)")
        inputs.int("batch_size", default=1024, label="Batch size")
        inputs.bool("overwrite", default=False, label="Start over (else resume a run of the same tag)")
        return types.Property(inputs, view=types.View(label="Train a quality model"))

    def execute(self, ctx):
        from fiqa_plugin.integrations.fiftyone_train import train_quality_model

        p = ctx.params
        return train_quality_model(
            ctx.view, p["label_field"], p["tag"], arch=p.get("arch") or "tinyfqnet",
            identity_field=p.get("identity_field") or None, sampling=p.get("sampling") or "smooth",
            min_images=int(p.get("min_images") or 10), epochs=int(p.get("epochs") or 17),
            input_size=int(p.get("input_size") or 64), batch_size=int(p.get("batch_size") or 1024), overwrite=bool(p.get("overwrite", False)),
            progress=lambda done, total: ctx.set_progress(done / max(total, 1), "training"),
        )

    def resolve_output(self, ctx):
        outputs = types.Object()
        outputs.str("name", label="Registered model (use it in compute face quality)")
        outputs.str("onnx", label="ONNX file")
        outputs.float("val_srcc", label="Held-out SRCC")
        return types.Property(outputs)


def register(p):
    p.register(TrainQualityModel)
