"""Built-in labelers (placeholder until the labelers land)."""
from ..hookspecs import hookimpl


@hookimpl
def fiqa_register_labelers(registry) -> None:
    pass
