"""The Freqtrade strategy's rooms: setups and trade plans (``signals``), the glue to Freqtrade's
DataProvider, venues, order book and alerts (``glue``).
"""
