"""Render the OARN icon set (PNG sizes, .ico, .icns, .svg) with the standard library only.

    python assets/icons/make_icons.py

The mark is a ring of network nodes around a filled core on a dark rounded square. The PNGs are
drawn by sampling each pixel (4×4 supersampling) and written with zlib, so no imaging library is
needed; .ico and .icns embed the PNGs, which every supported OS version reads.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (16, 32, 64, 128, 256, 512)
BACKGROUND = (18, 24, 38)
ACCENT = (64, 196, 160)
CORE = (240, 190, 70)
NODES = 6


def coverage(x: float, y: float) -> tuple[tuple[int, int, int], float]:
    """Colour and opacity of the point (x, y) in the unit square."""
    cx, cy = x - 0.5, y - 0.5
    corner = 0.18
    qx, qy = max(abs(cx) - (0.5 - corner), 0.0), max(abs(cy) - (0.5 - corner), 0.0)
    if math.hypot(qx, qy) > corner:
        return BACKGROUND, 0.0
    radius = math.hypot(cx, cy)
    if radius < 0.12:
        return CORE, 1.0
    for index in range(NODES):
        angle = 2 * math.pi * index / NODES - math.pi / 2
        nx, ny = 0.30 * math.cos(angle), 0.30 * math.sin(angle)
        if math.hypot(cx - nx, cy - ny) < 0.065:
            return ACCENT, 1.0
    if abs(radius - 0.30) < 0.018:
        return ACCENT, 1.0
    return BACKGROUND, 1.0


def render(size: int, samples: int = 4) -> bytes:
    """RGBA pixels of the icon at `size`×`size`."""
    rows = bytearray()
    for row in range(size):
        rows.append(0)  # PNG filter: none
        for column in range(size):
            red = green = blue = alpha = 0.0
            for sy in range(samples):
                for sx in range(samples):
                    colour, opacity = coverage((column + (sx + 0.5) / samples) / size,
                                               (row + (sy + 0.5) / samples) / size)
                    red += colour[0] * opacity
                    green += colour[1] * opacity
                    blue += colour[2] * opacity
                    alpha += opacity
            count = samples * samples
            if alpha:
                rows += bytes((round(red / alpha), round(green / alpha), round(blue / alpha),
                               round(255 * alpha / count)))
            else:
                rows += bytes(4)
    return bytes(rows)


def png(size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(render(size), 9)) + chunk(b"IEND", b""))


def ico(images: dict[int, bytes]) -> bytes:
    chosen = [size for size in sorted(images) if size <= 256]
    offset = 6 + 16 * len(chosen)
    head = struct.pack("<HHH", 0, 1, len(chosen))
    entries, blobs = b"", b""
    for size in chosen:
        data = images[size]
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(data),
                               offset + len(blobs))
        blobs += data
    return head + entries + blobs


def icns(images: dict[int, bytes]) -> bytes:
    kinds = {32: b"ic11", 64: b"ic12", 128: b"ic07", 256: b"ic08", 512: b"ic09"}
    body = b"".join(kind + struct.pack(">I", 8 + len(images[size])) + images[size]
                    for size, kind in kinds.items())
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <rect x="0" y="0" width="100" height="100" rx="18" fill="rgb{bg}"/>
  <circle cx="50" cy="50" r="30" fill="none" stroke="rgb{accent}" stroke-width="3.6"/>
{nodes}
  <circle cx="50" cy="50" r="12" fill="rgb{core}"/>
</svg>
"""


def svg() -> str:
    nodes = "\n".join(
        f'  <circle cx="{50 + 30 * math.cos(2 * math.pi * i / NODES - math.pi / 2):.2f}" '
        f'cy="{50 + 30 * math.sin(2 * math.pi * i / NODES - math.pi / 2):.2f}" r="6.5" '
        f'fill="rgb{ACCENT}"/>' for i in range(NODES))
    return SVG.format(bg=BACKGROUND, accent=ACCENT, core=CORE, nodes=nodes)


def main() -> None:
    images = {size: png(size) for size in SIZES}
    for size, data in images.items():
        (HERE / f"oarn-{size}.png").write_bytes(data)
    (HERE / "oarn.ico").write_bytes(ico(images))
    (HERE / "oarn.icns").write_bytes(icns(images))
    (HERE / "oarn.svg").write_text(svg(), encoding="utf-8")


if __name__ == "__main__":
    main()
