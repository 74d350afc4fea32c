"""Files: Freqtrade datadirs, Binance metrics archives, backtest results, and safe path handling."""
