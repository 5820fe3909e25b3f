"""traytrader: a hotkey-first system-tray trader for Binance USDⓈ-M futures."""

__version__ = "0.1.0"
