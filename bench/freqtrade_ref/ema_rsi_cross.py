"""The bench's simple Freqtrade strategy (loaded by Freqtrade from its own virtualenv, not by bottrader).

Long only, 1-minute candles: enter when EMA(20) crosses above EMA(50) while RSI(14) is below 70; exit
when EMA(20) crosses back below EMA(50) or RSI(14) goes above 80; a 2 % stoploss and a minimal ROI of
2 % at once, 1 % after 30 minutes, break-even after 60. Indicators by TA-Lib, as in Freqtrade's own
sample strategy. Nothing here is tuned: it exists to make the backtester trade on every pair.
"""

from __future__ import annotations

import talib.abstract as ta
from freqtrade.strategy import IStrategy
from pandas import DataFrame
from technical import qtpylib


class EmaRsiCross(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = False
    minimal_roi = {"0": 0.02, "30": 0.01, "60": 0.0}
    stoploss = -0.02
    trailing_stop = False
    process_only_new_candles = True
    use_exit_signal = True
    startup_candle_count = 100

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["ema_fast"] = ta.EMA(dataframe, timeperiod=20)
        dataframe["ema_slow"] = ta.EMA(dataframe, timeperiod=50)
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            qtpylib.crossed_above(dataframe["ema_fast"], dataframe["ema_slow"])
            & (dataframe["rsi"] < 70)
            & (dataframe["volume"] > 0),
            "enter_long",
        ] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            qtpylib.crossed_below(dataframe["ema_fast"], dataframe["ema_slow"]) | (dataframe["rsi"] > 80),
            "exit_long",
        ] = 1
        return dataframe
