"""The package's one palette and USD formatter: the pictures (:mod:`liq_indicator.plot`), the
validation report's figures, FreqUI's charts (:mod:`liq_indicator.strategy.frequi`) and the
strategy's log lines all read them from here.

Longs blue (they are liquidated when price falls), shorts orange; the low end of each scale fades
into the dark background so that empty and thin regions recede. Pure Python with no import of the
package: every layer may use it, and importing it loads neither plotly, matplotlib nor numba.
"""

from __future__ import annotations

import math

__all__ = [
    "BACKGROUND",
    "CANDLE_DOWN",
    "CANDLE_UP",
    "COLD_SHADE",
    "CUM_LONG_COLOR",
    "CUM_SHORT_COLOR",
    "GREY",
    "GRID",
    "LIGHT_GREY",
    "LONG_COLOR",
    "LONG_SCALE",
    "LONG_TIER_COLORS",
    "SHORT_COLOR",
    "SHORT_SCALE",
    "SHORT_TIER_COLORS",
    "STOP_COLOR",
    "TARGET_COLOR",
    "TEXT",
    "WARN_COLOR",
    "format_usd",
    "rgb",
]

BACKGROUND = "#0d1117"
GRID = "#262c36"
TEXT = "#d0d4da"
LONG_COLOR = "#2f8cff"
SHORT_COLOR = "#ff8a1f"
GREY = "#8a8f98"  # baselines and real data beside the estimate (report figures)
LIGHT_GREY = "#c8ccd2"  # a second baseline beside GREY (report figures)
COLD_SHADE = "#9ca3af"  # the stretch of a heatmap where the map has not warmed up yet
# (position, colour) stops; most of each scale stays dark so that only dense clusters glow
LONG_SCALE = (
    (0.0, "#0b1a3a"),
    (0.45, "#133d86"),
    (0.72, "#2f7fe0"),
    (0.9, "#7fd0ff"),
    (1.0, "#effcff"),
)
SHORT_SCALE = (
    (0.0, "#2e1004"),
    (0.45, "#74300a"),
    (0.72, "#de6a12"),
    (0.9, "#ffb347"),
    (1.0, "#fff4d0"),
)
CANDLE_UP = "#3ddc97"
CANDLE_DOWN = "#ff4d6d"
STOP_COLOR = "#e879f9"  # a trade's stop (magenta: neither side's colour nor a candle's)
TARGET_COLOR = "#a3e635"  # a trade's target (lime: apart from the green of rising candles)
WARN_COLOR = "#fbbf24"  # marks on a picture that is not what it seems (warm-up, simulated)
# per leverage tier, low to high leverage (a sixth tier and beyond reuse the list). Neighbouring
# tiers differ in lightness *and* hue (cyan -> blue -> indigo -> violet; yellow -> orange -> red
# -> crimson) so that five stacked tiers stay apart in print and for colour-weak eyes.
LONG_TIER_COLORS = ("#c4f1ff", "#4fc3f7", "#1e7bff", "#3f3fc8", "#b07cff")
SHORT_TIER_COLORS = ("#fff3a3", "#ffc03d", "#ff7a1a", "#d6341f", "#ff5fa2")
CUM_LONG_COLOR = "#a5e4ff"  # the cumulative curves of the map, and the recorded bars in FreqUI
CUM_SHORT_COLOR = "#ffd98a"


def rgb(color: str) -> tuple[int, int, int]:
    """The ``(red, green, blue)`` of a ``#rrggbb`` colour of the palette.

    Example:
        >>> rgb(LONG_COLOR)
        (47, 140, 255)
    """
    digits = color.removeprefix("#")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def format_usd(value: float, *, prefix: str = "$") -> str:
    """Compact USD label: ``$950``, ``$12.5k``, ``$3M``, ``$1.2B`` (sign dropped; 3 digits);
    ``"-"`` for NaN or infinity. ``prefix=""`` for a log line that writes ``12.3M USD``.

    Example:
        >>> format_usd(1_234_000), format_usd(-950), format_usd(12.3e6, prefix="")
        ('$1.23M', '$950', '12.3M')
    """
    a = abs(float(value))
    if not math.isfinite(a):
        return "-"
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div * 0.9995:
            return f"{prefix}{a / div:.3g}{suffix}"
    return f"{prefix}{a:.3g}"
