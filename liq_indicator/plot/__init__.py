"""Pictures: the heatmap and the map at one moment (plotly HTML, matplotlib PNG)."""
