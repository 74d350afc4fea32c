"""Research on real history: accuracy against real liquidations (``validation``) and the trading
claims (``claims``).
"""
