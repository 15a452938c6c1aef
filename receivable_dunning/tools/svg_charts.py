"""Bar and line charts as inline SVG, drawn on the server for PDF reports.

wkhtmltopdf runs no JavaScript worth relying on, so the monthly report's charts are plain SVG elements. Pure Python:
labels in, markup out, every text escaped here so that the caller may embed the result as is.
"""

from html import escape

FONT = "font-family:Lato,Arial,sans-serif;font-size:10px"
BAR_COLOR = "#2e7d8c"
LINE_COLOR = "#c0392b"
AXIS_COLOR = "#999999"


def _scale(values, top, bottom):
    """A function mapping a value to a y coordinate between ``top`` (highest value) and ``bottom`` (lowest), zero
    always included so that bars start from it; all values zero (or none) map to the bottom."""
    low = min([0.0, *values])
    high = max([0.0, *values])
    span = (high - low) or 1.0

    def y(value):
        return bottom - (value - low) / span * (bottom - top)

    return y


def _svg(width, height, body):
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="{FONT}">{"".join(body)}</svg>'
    )


def bar_chart(labels, values, value_labels=None, width=480, height=180, color=BAR_COLOR):
    """Vertical bars, one per label, from the zero line (negative values hang below it).

    :param list labels: the category under each bar
    :param list values: numbers, one per label
    :param list value_labels: the text written above each bar (the values themselves when absent)
    :return: an ``<svg>`` element as a string, its texts escaped
    """
    value_labels = value_labels or [f"{value:g}" for value in values]
    top, bottom = 16, height - 22
    y = _scale(values, top, bottom)
    slot = width / max(len(values), 1)
    bar_width = slot * 0.6
    zero = y(0.0)
    body = [f'<line x1="0" y1="{zero:.1f}" x2="{width}" y2="{zero:.1f}" stroke="{AXIS_COLOR}" stroke-width="1"/>']
    for index, (label, value, value_label) in enumerate(zip(labels, values, value_labels, strict=True)):
        x = index * slot + (slot - bar_width) / 2
        bar_top, bar_bottom = sorted((y(value), zero))
        center = index * slot + slot / 2
        body.append(
            f'<rect x="{x:.1f}" y="{bar_top:.1f}" width="{bar_width:.1f}" height="{bar_bottom - bar_top:.1f}" '
            f'fill="{color}"/>'
        )
        body.append(f'<text x="{center:.1f}" y="{bar_top - 3:.1f}" text-anchor="middle">{escape(value_label)}</text>')
        body.append(f'<text x="{center:.1f}" y="{height - 6}" text-anchor="middle">{escape(label)}</text>')
    return _svg(width, height, body)


def line_chart(labels, values, value_labels=None, width=480, height=180, color=LINE_COLOR):
    """A line through one point per label, each point marked and its value written above it.

    :param list labels: the category under each point (months)
    :param list values: numbers, one per label
    :param list value_labels: the text written above each point (the values themselves when absent)
    :return: an ``<svg>`` element as a string, its texts escaped
    """
    value_labels = value_labels or [f"{value:g}" for value in values]
    top, bottom = 16, height - 22
    y = _scale(values, top, bottom)
    slot = width / max(len(values), 1)
    points = [(index * slot + slot / 2, y(value)) for index, value in enumerate(values)]
    body = [f'<line x1="0" y1="{bottom}" x2="{width}" y2="{bottom}" stroke="{AXIS_COLOR}" stroke-width="1"/>']
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{point_y:.1f}" for x, point_y in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    for (x, point_y), label, value_label in zip(points, labels, value_labels, strict=True):
        body.append(f'<circle cx="{x:.1f}" cy="{point_y:.1f}" r="3" fill="{color}"/>')
        body.append(f'<text x="{x:.1f}" y="{point_y - 6:.1f}" text-anchor="middle">{escape(value_label)}</text>')
        body.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle">{escape(label)}</text>')
    return _svg(width, height, body)
