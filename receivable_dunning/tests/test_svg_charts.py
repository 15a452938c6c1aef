import re

from lxml import etree

from odoo.tests import BaseCase, tagged

from ..tools.svg_charts import bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg):
    return etree.fromstring(svg.encode())


@tagged("post_install", "-at_install")
class TestSvgCharts(BaseCase):
    """The monthly report's charts: well-formed SVG whose shapes are proportional to the values."""

    def test_bars_proportional_from_zero(self):
        root = parse(bar_chart(["a", "b", "c"], [100, 50, 0], width=300, height=122))
        bars = root.findall(f"{SVG}rect")
        # Plot area from y=16 to y=100 (height - 22): 84 px for 100.
        self.assertEqual([float(bar.get("height")) for bar in bars], [84.0, 42.0, 0.0])
        self.assertEqual([float(bar.get("y")) for bar in bars], [16.0, 58.0, 100.0])
        # One slot of 100 px per bar, bars 60 px wide and centred.
        self.assertEqual([float(bar.get("x")) for bar in bars], [20.0, 120.0, 220.0])

    def test_negative_bar_hangs_below_zero(self):
        root = parse(bar_chart(["credit", "debt"], [-25, 75], width=200, height=122))
        credit, debt = root.findall(f"{SVG}rect")
        zero = float(root.find(f"{SVG}line").get("y1"))
        # 100 units over 84 px: zero sits 25 units above the bottom.
        self.assertEqual(zero, 79.0)
        self.assertEqual((float(credit.get("y")), float(credit.get("height"))), (79.0, 21.0))
        self.assertEqual((float(debt.get("y")), float(debt.get("height"))), (16.0, 63.0))

    def test_labels_are_escaped(self):
        svg = bar_chart(["<b>R&D</b>"], [1], value_labels=["1 < 2"])
        texts = [text.text for text in parse(svg).findall(f"{SVG}text")]
        self.assertEqual(texts, ["1 < 2", "<b>R&D</b>"])
        self.assertNotIn("<b>", svg)

    def test_no_data_is_still_a_chart(self):
        for svg in (bar_chart([], []), line_chart([], []), bar_chart(["a"], [0])):
            root = parse(svg)
            self.assertEqual(root.tag, f"{SVG}svg")
            self.assertEqual(root.get("width"), "480")

    def test_line_through_each_point(self):
        root = parse(line_chart(["Jan", "Feb", "Mar"], [30, 60, 45], width=300, height=122))
        points = [tuple(map(float, point.split(","))) for point in root.find(f"{SVG}polyline").get("points").split()]
        # Values 0..60 over 84 px from y=100 up to y=16.
        self.assertEqual(points, [(50.0, 58.0), (150.0, 16.0), (250.0, 37.0)])
        self.assertEqual(len(root.findall(f"{SVG}circle")), 3)
        self.assertEqual([text.text for text in root.findall(f"{SVG}text")], ["30", "Jan", "60", "Feb", "45", "Mar"])
        self.assertTrue(re.fullmatch(r"<svg .*</svg>", line_chart(["Jan"], [1])))
