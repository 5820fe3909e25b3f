"""Render every tray icon look into assets/icons/ (previews for the README; the app draws at run time).

    .venv/bin/python assets/render_icons.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from traytrader.ui.icon import render_all


def main() -> None:
    out = Path(__file__).resolve().parent / "icons"
    out.mkdir(exist_ok=True)
    images = render_all(64)
    for stem, image in images.items():
        image.save(out / f"{stem}.png")
    sheet = Image.new("RGBA", (72 * len(images), 72), (255, 255, 255, 255))
    for i, image in enumerate(images.values()):
        sheet.alpha_composite(image, (72 * i + 4, 4))
    sheet.save(out / "sheet.png")
    print(f"wrote {len(images)} icons and sheet.png to {out}")


if __name__ == "__main__":
    main()
