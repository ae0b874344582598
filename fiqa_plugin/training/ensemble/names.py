"""Member and TTA-view names, torch-free so the CLI can offer them without importing torch."""

MEMBERS = ("mobilenet_v3_small", "shufflenet_v2_x1_0")
VIEWS = ("identity", "hflip", "vflip")  # the paper's default TTA views
ALL_VIEWS = VIEWS + ("hvflip",)
