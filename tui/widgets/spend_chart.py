"""Horizontal bars of spend per label (a model, a day), scaled to the widget's width."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from llmgw.tui.format import usd

_FULL = "█"
_PARTS = " ▏▎▍▌▋▊▉"


class SpendChart(Widget):
    """A bar chart of USD amounts; bar colours come from the theme via component classes."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"spend-chart--label", "spend-chart--bar", "spend-chart--amount"}

    DEFAULT_CSS = """
    SpendChart {
        height: auto;
        width: 1fr;
        & > .spend-chart--label { color: $text-muted; }
        & > .spend-chart--bar { color: $accent; }
        & > .spend-chart--amount { color: $text; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:  # Textual's own parameter name
        super().__init__(id=id)
        self._rows: list[tuple[str, str]] = []

    def plot(self, rows: Sequence[tuple[str, str]]) -> None:
        """Show (label, USD decimal string) rows, in the order given."""
        self._rows = list(rows)
        self.refresh(layout=True)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        """One line per row, or one for the empty message."""
        return max(1, len(self._rows))

    def render(self) -> Text:
        """The bars, with labels left and amounts right."""
        if not self._rows:
            return Text("No spend in this range.", style=self.get_component_rich_style("spend-chart--label"))
        amounts = [Decimal(amount or "0") for _, amount in self._rows]
        labels = [label for label, _ in self._rows]
        money = [usd(amount) for _, amount in self._rows]
        label_width = min(max(len(label) for label in labels), max(8, self.size.width // 3))
        money_width = max(len(text) for text in money)
        bar_width = max(1, self.size.width - label_width - money_width - 2)
        top = max(amounts) if max(amounts) > 0 else Decimal(1)
        label_style = self.get_component_rich_style("spend-chart--label")
        bar_style = self.get_component_rich_style("spend-chart--bar")
        amount_style = self.get_component_rich_style("spend-chart--amount")
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, (label, amount, shown) in enumerate(zip(labels, amounts, money, strict=True)):
            if index:
                text.append("\n")
            eighths = int(amount / top * bar_width * 8)
            bar = _FULL * (eighths // 8) + (_PARTS[eighths % 8] if eighths % 8 else "")
            text.append(label[:label_width].ljust(label_width) + " ", label_style)
            text.append(bar.ljust(bar_width) + " ", bar_style)
            text.append(shown.rjust(money_width), amount_style)
        return text
