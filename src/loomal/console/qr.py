"""Reading an ``otpauth://`` URI from a QR code image.

The browser decodes the uploaded image file itself (``createImageBitmap`` in
its sandbox) and sends only grey pixels, at most 1600 x 1600; the server reads
the QR code from them with zxing-cpp. So no image-format parser runs on the
server, and the page needs no ``blob:`` or ``data:`` exception in its CSP.
Chromium's ``BarcodeDetector`` would avoid the round trip, but it does not
exist on Linux desktop builds (nor in Firefox), and a console must work there.
"""

from __future__ import annotations

import zxingcpp

from loomal.errors import ValidationError

__all__ = ["MAX_SIDE", "decode_otpauth_qr"]

MAX_SIDE = 1600
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def decode_otpauth_qr(pixels: bytes, *, width: int, height: int) -> str:
    """The otpauth://totp/ URI in a ``width`` x ``height`` 8-bit grey image."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or len(pixels) != width * height:
        raise ValidationError(f"The image must be grey pixels, at most {MAX_SIDE} on a side.")
    image = memoryview(pixels).cast("B", (height, width))
    for barcode in zxingcpp.read_barcodes(image, formats=_QR):
        text = barcode.text.strip()
        if text.lower().startswith("otpauth://totp/"):
            return text
        raise ValidationError("That QR code does not hold an otpauth://totp/ URI.")
    raise ValidationError("No QR code found in that image.")
