"""The HTML page of a demo campaign's report: a title, the figure, the summary as a table.

Shared by ``autoscope demo`` (:mod:`autoscope.studies.demo`) and ``autoscope demo --stem``
(:mod:`autoscope.studies.stem_demo`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_html"]


def write_html(out: Path, png: Path, title: str, summary: dict, note: str) -> Path:
    """``campaign_report.html`` in ``out``: ``title``, the figure ``png``, the summary as a
    table and ``note``; returns its path."""
    rows = "".join(
        f"<tr><td>{k}</td><td>{v:.3g}</td></tr>"
        if isinstance(v, float)
        else f"<tr><td>{k}</td><td>{v}</td></tr>"
        for k, v in summary.items()
    )
    html = out / "campaign_report.html"
    html.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"</head><body><h1>{title}</h1>"
        f"<img src='{png.name}' style='max-width:100%'><table border='1' cellpadding='4'>"
        f"{rows}</table><p>{note}</p></body></html>\n"
    )
    return html
