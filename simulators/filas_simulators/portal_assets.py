"""What the portal's pages load besides their HTML, as a real supplier portal does: a stylesheet, a web
font, a logo and a banner, and an analytics tag that reports each page view.

A booking needs only the HTML and the stylesheet; the worker blocks the rest (FILAS_PORTAL_BLOCKED_URLS).
The simulator counts what was fetched by kind, so a test can tell what the browser really downloaded.
Bytes are generated once, deterministically: a PNG encoder is a few lines of zlib, and a real image file
in the repository would be a binary nobody can review.
"""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Asset:
    kind: str  # what the simulator counts: stylesheet, font, image, analytics
    content_type: str
    body: bytes


def _png(width: int, height: int, seed: int) -> bytes:
    """An RGB PNG of noise (so it does not compress away: real photos do not either)."""
    noise = random.Random(seed)
    rows = b"".join(b"\x00" + noise.randbytes(width * 3) for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


STYLESHEET = b"""@font-face {
  font-family: "Atacadao Sans"; src: url("/static/fontes/atacadao-sans.woff2") format("woff2");
}
body { font-family: "Atacadao Sans", sans-serif; margin: 0 2rem; }
header { background: #f5f5f5 url("/static/banner.png") no-repeat right top; padding: 1rem; }
label { display: block; margin-top: .5rem; }
.erro, .aviso { color: #b00020; }
"""

# A tag manager's weight: a script to parse and run, then a beacon per page view.
ANALYTICS = (
    b"(function(){var d=[];for(var i=0;i<20000;i++){d.push((i*2654435761>>>0).toString(36));}"
    b"var p={pagina:document.body.dataset.pagina,n:d.length,t:Date.now()};"
    b"navigator.sendBeacon('/coleta',JSON.stringify(p));})();\n"
    + b"/* " + b"x" * 60_000 + b" */\n"
)

ASSETS: dict[str, Asset] = {
    "portal.css": Asset("stylesheet", "text/css; charset=utf-8", STYLESHEET),
    "fontes/atacadao-sans.woff2": Asset("font", "font/woff2", random.Random(3).randbytes(48_000)),
    "logo.png": Asset("image", "image/png", _png(160, 60, seed=1)),
    "banner.png": Asset("image", "image/png", _png(480, 120, seed=2)),
    "gtm.js": Asset("analytics", "application/javascript", ANALYTICS),
}
ASSET_KINDS = ("stylesheet", "font", "image", "analytics")
