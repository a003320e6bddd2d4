"""Generate docs/features.md from callshield.models.features.FEATURES.

    .venv/bin/python docs/gen_features.py > docs/features.md
"""

from callshield.models.explain import FEATURE_GROUP
from callshield.models.features import FEATURES


def render() -> str:
    lines = [
        "# Call DNA features",
        "",
        "Generated from `callshield/models/features.py` by `docs/gen_features.py`; a test fails",
        f"when this page is stale. {len(FEATURES)} features, each a number (NaN = missing). History",
        "features count *earlier* calls only, as the live service saw them. The reason code is the",
        "group a feature's contribution is reported under (`RISK_REASONS`).",
        "",
        "| # | Feature | Reason code | Meaning |",
        "|---|---|---|---|",
    ]
    for i, ((name, doc), group) in enumerate(zip(FEATURES, FEATURE_GROUP)):
        lines.append(f"| {i} | `{name}` | `{group}` | {doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
