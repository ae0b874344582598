"""Operator: pseudo quality labels (center / SDD / optimize) from a recognizer and an identity field (resumable)."""
import fiftyone.operators as foo
import fiftyone.operators.types as types


class GeneratePseudoLabels(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="generate_pseudo_labels",
            label="FIQA: generate pseudo quality labels",
            description="Recognition-oriented quality labels from embeddings and identities (for training)",
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            default_choice_to_delegated=True,
        )

    def resolve_input(self, ctx):
        from fiqa_plugin.plugins import LABELERS, RECOGNIZERS

        inputs = types.Object()
        labelers = types.RadioGroup()
        for e in LABELERS.entries():
            labelers.add_choice(e.name, label=e.name, description=e.summary)
        inputs.enum("labeler", labelers.values(), default="center", label="Labeler", view=labelers)
        recs = types.Dropdown()
        for name in RECOGNIZERS.names():
            recs.add_choice(name, label=name)
        inputs.enum("recognizer", recs.values(), default="buffalo_sc", label="Recognizer", view=recs)
        inputs.str("identity_field", default="ground_truth", required=True, label="Identity field")
        inputs.str("label_field", default="pseudo_quality", label="Output label field")
        inputs.str("initial_field", required=False, label="Initial quality field (optimize only)")
        inputs.int("batch_size", default=32, label="Batch size")
        return types.Property(inputs, view=types.View(label="Generate pseudo quality labels"))

    def execute(self, ctx):
        from fiqa_plugin.integrations.fiftyone_labels import generate_pseudo_labels

        p = ctx.params
        counts = generate_pseudo_labels(
            ctx.view, p.get("labeler") or "center", identity_field=p["identity_field"],
            label_field=p.get("label_field") or "pseudo_quality", recognizer=p.get("recognizer") or "buffalo_sc",
            initial_field=p.get("initial_field") or None, batch_size=int(p.get("batch_size") or 32),
            progress=lambda done, total: ctx.set_progress(done / max(total, 1), f"{done}/{total} samples"),
        )
        if not ctx.delegated:
            ctx.ops.reload_dataset()
        return counts


def register(p):
    p.register(GeneratePseudoLabels)
