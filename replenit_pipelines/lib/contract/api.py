"""The transport side of the Ingestion API contract: the auth header, the body limit and the
documented quota. The client and the sandbox both read them from here."""

AUTH_HEADER = "x-replenit-auth-key"
MAX_BODY_BYTES = 5_000_000  # a larger request body is refused with 413

Window = tuple[int, float]  # a rate-limit window: (requests, seconds)
DOCUMENTED_LIMITS: tuple[Window, ...] = ((100, 60.0), (5000, 3600.0))  # per key


def parse_limits(text: str) -> list[Window]:
    """`100/60,5000/3600` -> [(100, 60.0), (5000, 3600.0)]; `off` or `` -> []."""
    text = text.strip()
    if text.lower() in ("", "off", "none"):
        return []
    windows: list[Window] = []
    for part in text.split(","):
        try:
            count, seconds = part.split("/")
            window = (int(count), float(seconds))
        except ValueError:
            raise ValueError(
                f"bad rate-limit window {part!r}: write REQUESTS/SECONDS, e.g. 100/60,5000/3600"
            ) from None
        if window[0] < 1 or window[1] <= 0:
            raise ValueError(f"bad rate-limit window {part!r}: both numbers must be positive")
        windows.append(window)
    return windows
