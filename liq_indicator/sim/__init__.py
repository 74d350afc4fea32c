"""The agent-based market simulator with ground-truth liquidations (``market``), its kernels and
its Freqtrade datadir writer.
"""
