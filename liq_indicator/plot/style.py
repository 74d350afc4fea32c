"""The pictures' one palette and USD labels (the plots and the validation report's figures).

Longs blue (they are liquidated when price falls), shorts orange; the low end of each scale fades
into the dark background so that empty and thin regions recede. Pure Python: importing this module
loads neither plotly, matplotlib nor numba.
"""

from __future__ import annotations

__all__ = [
    "BACKGROUND",
    "CANDLE_DOWN",
    "CANDLE_UP",
    "CUM_LONG_COLOR",
    "CUM_SHORT_COLOR",
    "GREY",
    "GRID",
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
]

BACKGROUND = "#0d1117"
GRID = "#262c36"
TEXT = "#d0d4da"
LONG_COLOR = "#2f8cff"
SHORT_COLOR = "#ff8a1f"
GREY = "#8a8f98"  # baselines and real data beside the estimate (report figures)
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
CUM_LONG_COLOR = "#a5e4ff"
CUM_SHORT_COLOR = "#ffd98a"


def format_usd(value: float) -> str:
    """Compact USD label: ``$950``, ``$12.5k``, ``$3M``, ``$1.2B`` (sign dropped; 3 digits).

    Example:
        >>> format_usd(1_234_000), format_usd(-950)
        ('$1.23M', '$950')
    """
    a = abs(float(value))
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div * 0.9995:
            return f"${a / div:.3g}{suffix}"
    return f"${a:.3g}"
